# Owns nothing but making tests/interop a package: the interop tests that drive
# the real MyMonero npm clients (client.mjs) against lws live in test_mymonero.py.
