"""Security test helpers: certificates made with the openssl CLI, nerve/synapse configs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .procs import write_json

SECRET = "s3cr3t-Pa55"  # the service credential's password: must never appear in a log


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-keyout", str(key), "-out", str(cert), cwd=folder,
    )  # fmt: skip
    return key, cert


def issue(folder: Path, name: str, ca: tuple[Path, Path], san: str) -> tuple[Path, Path]:
    """A key and a certificate for `name` signed by `ca`, with subjectAltName `san`."""
    key, csr, cert = (folder / f"{name}{ext}" for ext in (".key", ".csr", ".pem"))
    ext = folder / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n")
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
        "-keyout", str(key), "-out", str(csr), cwd=folder,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert), cwd=folder,
    )  # fmt: skip
    key.chmod(0o600)
    return key, cert


def nerve_config(path: Path, zk_hosts: str, zk_path: str, port: int = 80, **top) -> Path:
    """A nerve config with one always-up service (no checks) on `port`."""
    conf = {
        "instance_id": "i-sec",
        "state_dir": str(path.parent / "nerve-state"),
        "zk_session_timeout": 3,
        "services": {
            "web": {
                "host": "127.0.0.1",
                "port": port,
                "zk_hosts": zk_hosts.split(","),
                "zk_path": zk_path,
                "check_interval": 0.2,
                "checks": [],
            }
        },
        **top,
    }
    write_json(path, conf)
    path.chmod(0o600)
    return path


def synapse_config(path: Path, zk_hosts: str, zk_path: str, **top) -> Path:
    conf = {
        "services": {
            "web": {"discovery": {"method": "zookeeper", "hosts": [zk_hosts], "path": zk_path}}
        },
        "file_output": {"output_directory": str(path.parent / "out")},
        "zk_session_timeout": 3,
        **top,
    }
    write_json(path, conf)
    path.chmod(0o600)
    return path
