"""Test certificates made with openssl at test time: a CA, and leaf certificates it signs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def openssl(*args: str, cwd: Path) -> None:
    tool = shutil.which("openssl")
    assert tool is not None, "openssl is needed to make test certificates"
    subprocess.run([tool, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
             "-days", "2", "-subj", f"/CN=Synthetic {name} CA", cwd=d)


def make_leaf(d: Path, name: str, ca: str, san: str) -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN=synthetic-{name}", cwd=d)
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\n", encoding="utf-8")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


def make_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "trust")
    make_ca(d, "other")
    make_leaf(d, "engine", "trust", "IP:127.0.0.1,DNS:localhost")
    make_leaf(d, "mash", "trust", "DNS:mash.synthshire.example")
    return d
