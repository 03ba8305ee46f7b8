# Owns a real Dask distributed cluster for the tests and benchmarks of
# `lws serve --scan-cluster`: a LocalCluster (a scheduler and worker
# processes under nannies, on loopback) run in its own process group, so
# that a test can stop the scheduler dead, start it again on the same port,
# and kill single workers. Must not know about lws beyond running its code
# on the workers (they import this tree's lws).
"""A Dask LocalCluster in a subprocess: ``python -m tests.support.dask_cluster``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

#: The project root: the cluster runs there, so its workers import this tree's lws.
ROOT = Path(__file__).resolve().parents[2]
#: Seconds for the cluster to come up (two worker processes importing lws).
START_TIMEOUT_S = 90.0


class DaskCluster:
    """A scheduler and ``workers`` single-threaded worker processes on 127.0.0.1."""

    def __init__(self, workers: int = 2, port: int | None = None) -> None:
        self.workers = workers
        self.port = port if port is not None else _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the cluster (again: on the same port)."""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.dask_cluster",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Dask cluster on port {self.port} did not start")
            line = self.proc.stdout.readline()
        ready = json.loads(line)
        assert ready["address"] == self.address, ready

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> process id, as the scheduler knows them now."""
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as client:
            return dict(client.run(os.getpid))

    def stop(self) -> None:
        """Kill the scheduler and every worker at once (a crash, not a shutdown)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=args.port,
        dashboard_address=None,
    )
    print(json.dumps({"address": cluster.scheduler_address}), flush=True)
    sys.stdin.read()  # until the parent closes it (or kills the group)
    cluster.close()


if __name__ == "__main__":
    main()


# --- TLS: a CA and certificates, as an operator would make them ---------------------


def make_tls_files(folder: Path, names: tuple[str, ...]) -> dict[str, tuple[Path, Path]]:
    """A CA (``ca.pem``) and, per name, a certificate and key it signed (for
    127.0.0.1 and localhost): name -> (cert, key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lws test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files: dict[str, tuple[Path, Path]] = {}
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = folder / f"{name}.pem", folder / f"{name}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(pem_key(key))
        files[name] = (cert_path, key_path)
    return files
