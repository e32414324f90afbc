"""`make lab` starts JupyterLab on notebooks/: start the same server command and check it serves them."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_makefile_lab_target_serves_notebooks(tmp_path):
    jupyter = Path(sys.executable).parent / "jupyter"
    if not jupyter.exists():
        pytest.skip("jupyter not installed in this environment")
    makefile = (ROOT / "Makefile").read_text()
    assert "jupyter lab --ServerApp.root_dir=notebooks" in makefile
    port, token = free_port(), "t2itest"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    root = ["--allow-root"] if os.geteuid() == 0 else []  # as the Makefile does
    proc = subprocess.Popen([str(jupyter), "lab", "--ServerApp.root_dir=notebooks", "--no-browser", *root,
                             f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listing = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=2) as r:
                    listing = json.load(r)
                break
            except OSError:
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not start within 60 s"
        names = {c["name"] for c in listing["content"]}
        assert "00_welcome.ipynb" in names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
