"""The `vras` command line. Each sub-command lives in its own module of this package.

A command module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`; modules are
discovered here, so adding a command never touches this file. TensorFlow is imported (quietly) before a command
runs unless the module sets `needs_tensorflow(args) -> bool` and it says False (`vras list` reads an index).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys


def _command_modules():
    package = sys.modules[__name__]
    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            modules.append(importlib.import_module(f"{__name__}.{info.name}"))
    return sorted(modules, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vras",
        description="vras_keras: build, train, analyse, export and serve the VRAS course's models.",
    )
    from vras_keras import __version__

    parser.add_argument("--version", action="version", version=f"vras_keras {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log lines (CUDA probing, oneDNN, XLA); hidden by default")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _needs_tensorflow=getattr(module, "needs_tensorflow", lambda args: True))
    return parser


def quiet_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up lines (CUDA probing, cuInit errors on CPU machines, oneDNN
    notes) silenced: they are written to the process's stderr before TF's own log level applies, so
    stderr is pointed at /dev/null while TensorFlow loads. Python warnings and errors are unaffected."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow as tf

                tf.config.list_physical_devices()  # the CUDA probe logs here, once
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    if args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    elif args._needs_tensorflow(args):
        try:
            quiet_tensorflow()
        except ImportError:  # commands that need TensorFlow say so themselves
            pass
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, TypeError) as error:
        # User errors: one clear line, no TensorFlow traceback.
        print(f"vras {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # read-only or full disk, a file where a folder is expected, no permission, ...
        print(f"vras {args.command}: error: {_os_error(error)}", file=sys.stderr)
        return 2
    except Exception as error:
        # TensorFlow's file-system errors (checkpoints, TensorBoard logs) are not OSErrors, and a bad sample
        # found while tf.data decodes it arrives wrapped in a TensorFlow error with the Python traceback.
        wrapped = _data_error_inside(error)
        if wrapped is None and not _is_tf_file_error(error):
            raise
        line = wrapped or f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
        print(f"vras {args.command}: error: {line}", file=sys.stderr)
        return 2


_WRAPPED_DATA_ERROR = re.compile(r"\b(?:DataFormatError|ImageDecodeError): (.+)")


def _data_error_inside(error):
    """The message of a `DataFormatError` / `ImageDecodeError` raised inside a tf.data function, if any."""
    errors = getattr(sys.modules.get("tensorflow"), "errors", None)
    if errors is None or not isinstance(error, errors.OpError):
        return None
    found = _WRAPPED_DATA_ERROR.findall(str(error))
    return found[-1].strip() if found else None


TF_FILE_ERRORS = ("PermissionDeniedError", "NotFoundError", "AlreadyExistsError", "ResourceExhaustedError",
                  "FailedPreconditionError", "DataLossError")


def _is_tf_file_error(error) -> bool:
    errors = getattr(sys.modules.get("tensorflow"), "errors", None)
    return errors is not None and isinstance(error, errors.OpError) and type(error).__name__ in TF_FILE_ERRORS


def _os_error(error: OSError) -> str:
    """`runs/x/history.csv: Read-only file system (OSError)` instead of `[Errno 30] ...` with quotes."""
    if error.strerror and error.filename is not None:
        target = f"{error.filename} -> {error.filename2}" if error.filename2 is not None else f"{error.filename}"
        return f"{target}: {error.strerror} ({type(error).__name__})"
    return f"{type(error).__name__}: {error}"


if __name__ == "__main__":
    sys.exit(main())
