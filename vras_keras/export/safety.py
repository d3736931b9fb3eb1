"""What is safe to load: a SavedModel is a program, so its graph is scanned before it is loaded.

`tf.saved_model.load` (and TF Serving) run the graph of an export: a crafted `saved_model.pb` can read,
write or list files (`ReadFile`, `WriteFile`, `MatchingFiles`, the dataset and reader ops), run Python
(`PyFunc`, `EagerPyFunc`), write summaries or debug dumps to any path, or talk to other machines (RPC,
collectives, send/receive). None of that belongs in a vras_keras export: its functions are the model, its
pre- and post-processing and, on the variable-restore path only, the checkpoint ops that read its own
`variables/` folder.

`scan_saved_model(path)` parses `saved_model.pb` (without running anything) and lists every op of every
graph and function that is in `UNSAFE_OPS` or matches `UNSAFE_PATTERNS`; checkpoint ops (`SaveV2`,
`RestoreV2`, `MergeV2Checkpoints`) are allowed in the functions reached from the saver definition and
refused anywhere else. `load_saved_model(path)` refuses an export with findings (`UnsafeExportError`, a
`ValueError` listing them) unless `allow_unsafe_ops=True`, and turns a corrupt export into one clear
`ValueError`. Every SavedModel load of the package (`vras predict`, `vras evaluate`, the demo through
`loading.load_export`) goes through it.

`.tflite` files need no scan: the interpreter only runs TFLite built-in ops (no file or Python ops exist
among them) and refuses a model with any other op. `.keras` files are loaded with Keras' `safe_mode`,
which refuses Python lambdas.
"""

from __future__ import annotations

import os
import re

SAVED_MODEL_PB = "saved_model.pb"

# Reading, writing or listing files, running Python, dumping tensors, talking to other processes.
UNSAFE_OPS = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "PyFunc", "PyFuncStateless", "EagerPyFunc", "ImmutableConst",
    "Save", "SaveSlices", "SaveV2", "Restore", "RestoreSlice", "RestoreV2", "MergeV2Checkpoints",
    "RecordInput", "LoadAndRemapMatrix", "GenerateVocabRemapping", "InitializeTableFromTextFile",
    "InitializeTableFromTextFileV2", "FileSystemSetConfiguration", "RemoteCall", "DistributedSave",
    "Send", "Recv", "_Send", "_Recv", "_HostSend", "_HostRecv",
})
UNSAFE_PATTERNS = re.compile(
    r"Dataset|Reader|Iterator|Summary|^Debug|Rpc|Snapshot|^Collective|TPU|Queue|^Load|Checkpoint|File"
)
# The variable-restore path of a SavedModel (its saver's functions) may hold these, and only these.
CHECKPOINT_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename", "ShardedFilespec"})


class UnsafeExportError(ValueError):
    """A SavedModel whose graph holds file-system, Python or network ops (see the module docstring)."""


def _is_unsafe(node) -> bool:
    if node.op == "PrintV2":  # tf.print: stderr/stdout/logs are fine, a file:// stream writes a file
        stream = node.attr["output_stream"].s.decode(errors="replace") if "output_stream" in node.attr else ""
        return stream.startswith("file:")
    return node.op in UNSAFE_OPS or bool(UNSAFE_PATTERNS.search(node.op))


def _called_functions(node) -> set[str]:
    """Names of the functions a node calls (`f`, `then_branch`, `body`, lists of branches, ...)."""
    names = set()
    for value in node.attr.values():
        if value.HasField("func"):
            names.add(value.func.name)
        elif value.HasField("list"):
            names.update(f.name for f in value.list.func)
    return names


def _saver_functions(meta_graph, functions) -> set[str]:
    """Functions reached from the saver definition's save and restore nodes (the variable-restore path)."""
    saver = meta_graph.saver_def
    start = {name.split(":")[0] for name in (saver.save_tensor_name, saver.restore_op_name) if name}
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    seen_nodes, stack, reached = set(), list(start), set()
    while stack:
        name = stack.pop().lstrip("^").split(":")[0]
        if name in seen_nodes or name not in nodes:
            continue
        seen_nodes.add(name)
        stack.extend(nodes[name].input)
        reached |= _called_functions(nodes[name])
    stack = list(reached)
    while stack:
        name = stack.pop()
        if name not in functions:
            continue
        for node in functions[name].node_def:
            for callee in _called_functions(node) - reached:
                reached.add(callee)
                stack.append(callee)
    return reached | {f"node:{n}" for n in seen_nodes}


def read_saved_model_proto(path: str):
    """The parsed `saved_model.pb` of the export folder `path`; `ValueError` naming the file if corrupt."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(path, SAVED_MODEL_PB)
    if not os.path.isfile(pb):
        raise FileNotFoundError(f"{path} holds no {SAVED_MODEL_PB}: not a SavedModel export folder")
    proto = saved_model_pb2.SavedModel()
    try:
        with open(pb, "rb") as f:
            proto.ParseFromString(f.read())
    except (DecodeError, RuntimeWarning, ValueError) as error:
        raise ValueError(f"{pb}: not a readable SavedModel (corrupt or truncated: {error})") from None
    if not proto.meta_graphs:
        raise ValueError(f"{pb}: not a readable SavedModel (no meta graph; corrupt, truncated or not a SavedModel)")
    return proto


def scan_saved_model(path: str) -> list[str]:
    """Unsafe ops of the SavedModel folder `path`, as `"function NAME: op OP (node NODE)"` lines (empty: safe)."""
    findings = []
    for meta_graph in read_saved_model_proto(path).meta_graphs:
        functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
        restore_path = _saver_functions(meta_graph, functions)

        def check(where, node, allowed):
            if _is_unsafe(node) and not (allowed and node.op in CHECKPOINT_OPS):
                findings.append(f"{where}: op {node.op} (node {node.name})")

        for node in meta_graph.graph_def.node:
            check("main graph", node, f"node:{node.name}" in restore_path)
        for name, function in functions.items():
            for node in function.node_def:
                check(f"function {name}", node, name in restore_path)
    return findings


def check_saved_model(path: str, *, allow_unsafe_ops: bool = False) -> list[str]:
    """Raise `UnsafeExportError` if the SavedModel at `path` holds unsafe ops (unless allowed); returns them."""
    findings = scan_saved_model(path)
    if findings and not allow_unsafe_ops:
        shown = "; ".join(findings[:5]) + (f"; and {len(findings) - 5} more" if len(findings) > 5 else "")
        raise UnsafeExportError(
            f"{path}: refusing to load this SavedModel: its graph can touch files, run Python or reach the network "
            f"({shown}). vras exports never contain these ops; load it only if you trust whoever made it "
            "(--allow-unsafe-ops, or allow_unsafe_ops=True)"
        )
    return findings


def load_saved_model(path: str, *, allow_unsafe_ops: bool = False):
    """`tf.saved_model.load(path)` after `check_saved_model`; a corrupt export is one `ValueError` naming it."""
    import tensorflow as tf

    check_saved_model(path, allow_unsafe_ops=allow_unsafe_ops)
    try:
        return tf.saved_model.load(path)
    except (tf.errors.OpError, ValueError, KeyError, OSError, AssertionError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: the SavedModel cannot be loaded (corrupt export? {type(error).__name__}: "
                         f"{reason[:300]})") from None
