"""pip install . : the Python module built by the project's CMake build, then packaged.

The extension (phasegen._core) is the CMake target phasegen_python, built in PHASEGEN_BUILD_DIR
(default: build, the directory `make` uses, so a tree that `make test` built is not compiled
again; its Python is kept where this one loads its modules); the pure-Python package is python/phasegen. Needs the Debian packages of
scripts/install-deps.sh and, because torch is a Debian package here, --no-build-isolation.
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def configured_python(build):
    """The Python an existing build was configured for (its PHASEGEN_PYTHON), or None."""
    cache = os.path.join(build, "CMakeCache.txt")
    if not os.path.exists(cache):
        return None
    with open(cache) as f:
        for line in f:
            if line.startswith("PHASEGEN_PYTHON:"):
                return line.split("=", 1)[1].strip()
    return None


def same_abi(python):
    """Whether `python` builds extension modules this interpreter loads (same version, same suffix)."""
    probe = "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"
    try:
        theirs = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    import sysconfig
    return theirs == sysconfig.get_config_var("EXT_SUFFIX")


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.path.abspath(os.environ.get("PHASEGEN_BUILD_DIR", os.path.join(HERE, "build")))
        configure = ["cmake", "-S", HERE, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DPHASEGEN_BUILD_PYTHON=ON"]
        configured = configured_python(build)
        if configured is None:
            configure.append("-DPHASEGEN_PYTHON=" + sys.executable)
        elif not same_abi(configured):
            raise RuntimeError("phasegen: the build in " + build + " is for " + configured + ", whose extension modules "
                               "this Python (" + sys.executable + ") cannot load: set PHASEGEN_BUILD_DIR to a new "
                               "directory")
        subprocess.run(configure, check=True)
        jobs = str(os.cpu_count() or 2)
        subprocess.run(["cmake", "--build", build, "-j", jobs, "--target", "phasegen_python"], check=True)
        package = os.path.join(build, "python", "phasegen")
        built = [f for f in os.listdir(package) if f.startswith("_core") and f.endswith(".so")]
        if len(built) != 1:
            raise RuntimeError("phasegen: expected one _core*.so in " + package + ", found " + str(built))
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(package, built[0]), target)


setup(
    packages=["phasegen"],
    package_dir={"": "python"},
    ext_modules=[Extension("phasegen._core", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' own staging, beside (not among) the CMake build's files
    options={"build": {"build_base": os.path.join("build", "pip")}},
)
