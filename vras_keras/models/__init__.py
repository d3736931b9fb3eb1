"""Model builders, reached through the registry: `models.get("resnet50", num_classes=10)`."""

from vras_keras.models.registry import (
    TASKS,
    get,
    get_entry,
    list_models,
    load_model,
    read_index,
    register,
    unregister,
)

__all__ = ["TASKS", "get", "get_entry", "list_models", "load_model", "read_index", "register", "unregister"]
