# Builds lws's one C extension (lws/monero/_derivations.c: batched monero
# key derivations); everything else about the package is in setup.cfg.
# The extension is optional: without a C compiler lws installs and scans
# with its pure-Python/libsodium path (lws/monero/ownership.py).
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "lws.monero._derivations",
            sources=["lws/monero/_derivations.c"],
            extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra"],
            optional=True,
        )
    ]
)
