#!/usr/bin/env python3
"""hack/oci_archive.py: turns a root filesystem directory into a one-layer OCI image-layout tar.

    hack/oci_archive.py --rootfs DIR --output FILE --name REF [--name REF]...
                        [--entrypoint JSON] [--cmd JSON] [--user U] [--workdir DIR]
                        [--env K=V]... [--label K=V]... [--owner PATH=UID:GID]...
                        [--compression gzip|none]

hack/image calls it; see docs/images.md. The archive holds `oci-layout`, `index.json` and
`blobs/sha256/` with the layer, the image config and the manifest, as in the OCI image-layout
spec (image-spec v1.1, image-layout.md). Each --name becomes one entry of index.json pointing at
the same manifest, annotated with `org.opencontainers.image.ref.name` (the tag) and containerd's
`io.containerd.image.name` (the full reference), which is what `ctr images import` names the
image by.

Reproducible: the same directory tree and options give the same bytes, so the same digests.
Entries are sorted, every mtime is SOURCE_DATE_EPOCH (default 0), every owner is 0:0 except the
paths given with --owner, modes and symlinks are kept, hard links within the tree stay hard
links, and the gzip header has no name and mtime 0. Prints the manifest digest to stdout.

Standard library only.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"


class ArchiveError(Exception):
    pass


class HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what goes through it to another file."""

    def __init__(self, out):
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def digest(self):
        return "sha256:" + self.sha.hexdigest()


def walk_sorted(root, rel=""):
    """Yields the paths under root relative to it, each directory just before its own
    contents, names sorted bytewise, so the order never depends on the file system."""
    for name in sorted(os.listdir(os.path.join(root, rel) if rel else root)):
        child = os.path.join(rel, name) if rel else name
        yield child
        full = os.path.join(root, child)
        if os.path.isdir(full) and not os.path.islink(full):
            yield from walk_sorted(root, child)


def layer_entries(root, owners, mtime):
    """Yields (TarInfo, path-or-None) for every entry under root, in archive order."""
    seen_inodes = {}
    for rel in walk_sorted(root):
        full = os.path.join(root, rel)
        st = os.lstat(full)
        info = tarfile.TarInfo(rel)
        info.mode = stat.S_IMODE(st.st_mode)
        info.mtime = mtime
        info.uid, info.gid = owners.pop(rel, (0, 0))
        info.uname = info.gname = ""
        path = None
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(full)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen_inodes:
                info.type = tarfile.LNKTYPE
                info.linkname = seen_inodes[key]
            else:
                seen_inodes[key] = rel
                info.type = tarfile.REGTYPE
                info.size = st.st_size
                path = full
        else:
            raise ArchiveError(f"{full}: not a file, directory or symlink; a layer cannot hold it")
        yield info, path
    if owners:
        raise ArchiveError(f"--owner names paths not in the rootfs: {', '.join(sorted(owners))}")


def write_layer(root, owners, mtime, out):
    """Writes the layer tar of root to out; returns the diff_id (digest of the plain tar)."""
    plain = HashingWriter(out)
    with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, path in layer_entries(root, dict(owners), mtime):
            if path is None:
                tar.addfile(info)
            else:
                with open(path, "rb") as f:
                    tar.addfile(info, f)
    return plain.digest()


def build_layer(root, owners, mtime, compression, workdir):
    """Returns (layer file path, layer descriptor, diff_id)."""
    plain_path = os.path.join(workdir, "layer.tar")
    with open(plain_path, "wb") as f:
        diff_id = write_layer(root, owners, mtime, f)
    if compression == "none":
        path, media_type = plain_path, MEDIA_LAYER
    else:
        path, media_type = os.path.join(workdir, "layer.tar.gz"), MEDIA_LAYER + "+gzip"
        with open(plain_path, "rb") as src, open(path, "wb") as dst:
            # filename="" and mtime=0: no temporary file name or time in the gzip header.
            with gzip.GzipFile(filename="", mode="wb", fileobj=dst, mtime=0, compresslevel=6) as gz:
                shutil.copyfileobj(src, gz, 1 << 20)
        os.unlink(plain_path)
    return path, descriptor_of_file(path, media_type), diff_id


def descriptor_of_file(path, media_type):
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return {"mediaType": media_type, "digest": "sha256:" + sha.hexdigest(),
            "size": os.path.getsize(path)}


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def descriptor_of_bytes(data, media_type):
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data)}


def image_config(args, diff_id, created):
    config = {"WorkingDir": args.workdir, "Env": args.env}
    if args.entrypoint is not None:
        config["Entrypoint"] = args.entrypoint
    if args.cmd is not None:
        config["Cmd"] = args.cmd
    if args.user:
        config["User"] = args.user
    if args.label:
        config["Labels"] = dict(kv.split("=", 1) for kv in args.label)
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "hack/image (hack/oci_archive.py)"}],
    }


def split_reference(ref):
    """'registry/repo:tag' -> tag; a reference needs an explicit tag here."""
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last or "@" in ref:
        raise ArchiveError(f"--name {ref}: want repository:tag")
    return last.split(":", 1)[1]


def index_of(names, manifest_desc):
    manifests = []
    for ref in names:
        entry = dict(manifest_desc)
        entry["platform"] = {"architecture": "amd64", "os": "linux"}
        entry["annotations"] = {
            "io.containerd.image.name": ref,
            "org.opencontainers.image.ref.name": split_reference(ref),
        }
        manifests.append(entry)
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests}


def write_outer_tar(output, files, mtime):
    """files: {archive name: bytes or file path}; written sorted, 0:0, 0644, mtime fixed."""
    def info(name, size, kind=tarfile.REGTYPE):
        ti = tarfile.TarInfo(name)
        ti.type, ti.size, ti.mtime = kind, size, mtime
        ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        ti.uname = ti.gname = ""
        return ti

    tmp = output + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(info(d, 0, tarfile.DIRTYPE))
        for name in sorted(files):
            content = files[name]
            if isinstance(content, bytes):
                tar.addfile(info(name, len(content)), io.BytesIO(content))
            else:
                with open(content, "rb") as f:
                    tar.addfile(info(name, os.path.getsize(content)), f)
    os.replace(tmp, output)


def parse_owner(text):
    try:
        path, ids = text.rsplit("=", 1)
        uid, gid = ids.split(":")
        return path.strip("/"), (int(uid), int(gid))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: want PATH=UID:GID")


def parse_json_list(text):
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise argparse.ArgumentTypeError(f"{text!r}: want a JSON list of strings")
    return value


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rootfs", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--name", action="append", required=True, help="full reference repo:tag")
    p.add_argument("--entrypoint", type=parse_json_list)
    p.add_argument("--cmd", type=parse_json_list)
    p.add_argument("--user", default="")
    p.add_argument("--workdir", default="/")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--owner", action="append", default=[], type=parse_owner)
    p.add_argument("--compression", choices=["gzip", "none"], default="gzip")
    args = p.parse_args()

    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = "%04d-%02d-%02dT%02d:%02d:%02dZ" % __import__("time").gmtime(mtime)[:6]
    if not os.path.isdir(args.rootfs):
        raise ArchiveError(f"--rootfs {args.rootfs}: not a directory")
    for kv in args.label + args.env:
        if "=" not in kv:
            raise ArchiveError(f"{kv!r}: want KEY=VALUE")

    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(args.output))) as work:
        layer_path, layer_desc, diff_id = build_layer(
            args.rootfs, dict(args.owner), mtime, args.compression, work)
        config = canonical_json(image_config(args, diff_id, created))
        config_desc = descriptor_of_bytes(config, MEDIA_CONFIG)
        manifest = canonical_json({"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                                   "config": config_desc, "layers": [layer_desc]})
        manifest_desc = descriptor_of_bytes(manifest, MEDIA_MANIFEST)
        blob = lambda d: "blobs/sha256/" + d["digest"].split(":", 1)[1]
        files = {
            "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
            "index.json": canonical_json(index_of(args.name, manifest_desc)),
            blob(layer_desc): layer_path,
            blob(config_desc): config,
            blob(manifest_desc): manifest,
        }
        write_outer_tar(args.output, files, mtime)
    print(manifest_desc["digest"])


if __name__ == "__main__":
    try:
        main()
    except (ArchiveError, OSError) as e:
        print(f"oci_archive: {e}", file=sys.stderr)
        sys.exit(1)
