"""`crl cache [--clear]`: how much disk the decoded image modalities take, and a way to free it."""

from __future__ import annotations

import argparse
import json

from crl.data import image_store


def _gigabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1024**3:.2f} GB"


def cache_cli(args: argparse.Namespace) -> int:
    """Print the image store's folder, file count and size (JSON with --json); --clear deletes its files first."""
    freed = image_store.clear() if args.clear else 0
    files, size = image_store.usage()
    if args.json:
        row = {"folder": str(image_store.store_folder()), "files": files, "bytes": size}
        row.update({"budget_bytes": image_store.budget_bytes(), "freed_bytes": freed})
        print(json.dumps(row))
        return 0
    if args.clear:
        print(f"deleted {_gigabytes(freed)} of decoded images; they are decoded again when next loaded")
    print(f"decoded images: {files} file(s), {_gigabytes(size)} in {image_store.store_folder()}")
    print(
        f"kept up to {_gigabytes(image_store.budget_bytes())} (CRL_IMAGE_CACHE_GB), least recently used "
        "deleted first"
    )
    return 0
