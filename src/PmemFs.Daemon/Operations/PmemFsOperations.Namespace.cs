using PmemFs.Engine;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>Names: create, link, remove and rename entries; symlinks.</summary>
public sealed unsafe partial class PmemFsOperations
{
    public override void MkNod(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, uint mode, ulong rdev)
    {
        var errno = _fs.Create(parent, name, mode, Caller(req), out var attr, rdev);
        ReplyEntry(req, errno, attr);
    }

    public override void MkDir(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, uint mode)
    {
        var errno = _fs.MakeDirectory(parent, name, mode, Caller(req), out var attr);
        ReplyEntry(req, errno, attr);
    }

    public override void Symlink(FuseRequest req, ReadOnlySpan<byte> target, ulong parent, ReadOnlySpan<byte> name)
    {
        var errno = _fs.Symlink(parent, name, target, Caller(req), out var attr);
        ReplyEntry(req, errno, attr);
    }

    public override void Link(FuseRequest req, ulong ino, ulong newParent, ReadOnlySpan<byte> newName)
    {
        var errno = _fs.Link(ino, newParent, newName, out var attr);
        ReplyEntry(req, errno, attr);
    }

    /// <summary>Unlinking the last name of a leased file recalls its leases: parked until they end.</summary>
    public override void Unlink(FuseRequest req, ulong parent, ReadOnlySpan<byte> name)
    {
        var errno = _fs.Unlink(parent, name);
        if (errno != Errno.RetryAfterRecall) { Reply(req, errno); return; }
        ParkUnlink(req, parent, name.ToArray());
    }

    // The parking paths are methods of their own: a lambda that captures a parameter makes the
    // compiler allocate its closure at the entry of the method, on every call.
    private void ParkUnlink(FuseRequest req, ulong parent, byte[] name) =>
        Park(req, "unlink", null, () => _fs.Unlink(parent, name), e => Reply(req, e));

    public override void RmDir(FuseRequest req, ulong parent, ReadOnlySpan<byte> name) => Reply(req, _fs.RemoveDirectory(parent, name));

    public override void Rename(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, uint flags)
    {
        const uint Known = (uint)(RenameFlags.NoReplace | RenameFlags.Exchange);
        if ((flags & ~Known) != 0)
        {
            // RENAME_WHITEOUT is for overlayfs upper layers; PmemFs has no whiteouts.
            Reply(req, Errno.EINVAL);
            return;
        }
        var errno = _fs.Rename(parent, name, newParent, newName, (RenameFlags)flags);
        if (errno != Errno.RetryAfterRecall) { Reply(req, errno); return; }
        // Renaming over the last name of a leased file recalls its leases.
        ParkRename(req, parent, name.ToArray(), newParent, newName.ToArray(), (RenameFlags)flags);
    }

    private void ParkRename(FuseRequest req, ulong parent, byte[] from, ulong newParent, byte[] to, RenameFlags flags) =>
        Park(req, "rename", null, () => _fs.Rename(parent, from, newParent, to, flags), e => Reply(req, e));

    public override void ReadLink(FuseRequest req, ulong ino)
    {
        var errno = _fs.ReadLink(ino, out var target);
        if (errno.Failed) Reply(req, errno);
        else req.ReplyReadLink(target);
    }
}
