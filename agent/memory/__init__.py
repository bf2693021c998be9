"""Long-term preference memory: a LangGraph store on Chroma, namespaced per shopper.

Importing this package is light: Chroma and the embedding model load on first use.
"""

from agent.memory.chroma_store import DEFAULT_COLLECTION, ChromaStore, Embedder, StoreLockedError
from agent.memory.keys import (
    MAX_USER_ID_LENGTH,
    MEMORY_ROOT,
    InvalidUserIdError,
    fact_key,
    normalise_user_id,
    user_label,
    user_namespace,
)

__all__ = [
    "DEFAULT_COLLECTION",
    "MAX_USER_ID_LENGTH",
    "MEMORY_ROOT",
    "ChromaStore",
    "Embedder",
    "InvalidUserIdError",
    "StoreLockedError",
    "fact_key",
    "normalise_user_id",
    "user_label",
    "user_namespace",
]
