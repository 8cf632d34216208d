using PmemFs.Engine.Acl;
using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Format;

namespace PmemFs.Engine;

public sealed partial class FileSystem
{
    /// <summary>
    /// chmod / chown / truncate / utimes, as one transaction (a truncate that frees very many
    /// extents records a trim intent and finishes in follow-up transactions). A size change is a
    /// layout change: leases of other handles over the bytes it frees or exposes are broken first
    /// (ETXTBSY when pinned, <see cref="Errno.RetryAfterRecall"/> while recalled);
    /// <paramref name="handle"/> is the open handle of an ftruncate (FUSE's fh), 0 for a path.
    /// </summary>
    public Errno SetAttr(ulong ino, in SetAttrRequest req, Credentials who, out InodeAttributes attr, ulong handle = 0)
    {
        attr = default;
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterWriteLock();
            try
            {
                if (inode.Freed) return Errno.ESTALE;
                var f = req.Fields;
                var rec = inode.Rec;
                FlagRules.CheckSetAttr(inode, f, f.HasFlag(SetAttrFields.Mode) && OnlyClearsPrivileges(rec.Mode & 0xFFF, req.Mode & 0xFFF));
                long now = Now();
                using var tx = Txn.Begin(this);
                if (f.HasFlag(SetAttrFields.Mode))
                {
                    uint mode = req.Mode & 0xFFF;
                    // A non-owner may only drop suid/sgid: the kernel's own privilege clearing on
                    // write and truncate by another user arrives as such a chmod, in that user's name.
                    if (!who.IsRoot && who.Uid != rec.Uid && !OnlyClearsPrivileges(rec.Mode & 0xFFF, mode)) return Errno.EPERM;
                    // A non-root caller outside the file's group (primary or supplementary) cannot
                    // keep setgid (as the kernel does); the groups are looked up only then.
                    if ((mode & SetGid) != 0 && !who.IsRoot && !inode.IsDirectory && !who.InGroup(rec.Gid)) mode &= ~SetGid;
                    rec.Mode = (rec.Mode & FileTypes.Mask) | mode;
                    ChmodAccessAclLocked(tx, inode, ref rec);
                }
                if (f.HasFlag(SetAttrFields.Uid) || f.HasFlag(SetAttrFields.Gid))
                {
                    uint uid = f.HasFlag(SetAttrFields.Uid) ? req.Uid : rec.Uid;
                    uint gid = f.HasFlag(SetAttrFields.Gid) ? req.Gid : rec.Gid;
                    // Linux's chown_ok/chgrp_ok: the owner keeps the owner and may give the file to any
                    // group it is in, its primary one or a supplementary one (read only for another group).
                    if (!who.IsRoot && (uid != rec.Uid || who.Uid != rec.Uid || (gid != rec.Gid && !who.InGroup(gid)))) return Errno.EPERM;
                    if (!inode.IsDirectory && (uid != rec.Uid || gid != rec.Gid || !who.IsRoot))
                    {
                        rec.Mode &= ~SetUid;
                        // setattr_should_drop_sgid: setgid with group exec always goes; without it (the
                        // mandatory-locking mark) only when the caller is not in the file's old group.
                        if ((rec.Mode & GroupExec) != 0 || (!who.IsRoot && (rec.Mode & SetGid) != 0 && !who.InGroup(rec.Gid))) rec.Mode &= ~SetGid;
                    }
                    rec.Uid = uid;
                    rec.Gid = gid;
                }
                if (f.HasFlag(SetAttrFields.Size))
                {
                    if (inode.IsDirectory) return Errno.EISDIR;
                    if (!inode.IsRegular) return Errno.EINVAL;
                    if (req.Size < 0) return Errno.EINVAL;
                    if (req.Size > FormatConstants.MaxFileSize) return Errno.EFBIG;
                    if (req.Size != rec.Size)
                    {
                        var broken = Leases.BreakLayouts(ino, TruncateRange(rec.Size, req.Size), handle);
                        if (!broken.MayProceed) return broken.Errno;
                    }
                    TruncateLocked(inode, req.Size, who, tx, ref rec);
                }
                if (f.HasFlag(SetAttrFields.AtimeNow)) rec.AtimeNs = now;
                else if (f.HasFlag(SetAttrFields.Atime)) rec.AtimeNs = req.AtimeNs;
                if (f.HasFlag(SetAttrFields.MtimeNow)) rec.MtimeNs = now;
                else if (f.HasFlag(SetAttrFields.Mtime)) rec.MtimeNs = req.MtimeNs;
                rec.CtimeNs = f.HasFlag(SetAttrFields.Ctime) ? req.CtimeNs : now;
                LogInode(tx, rec);
                tx.OnCommitStore(inode, rec);
                tx.Commit();
                if (rec.PendingTrim != 0) TrimLocked(inode, rec.PendingTrim - 1);
                attr = AttributesOf(inode);
                return Errno.Ok;
            }
            finally { inode.Lock.ExitWriteLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    /// <summary>
    /// chmod keeps a stored access ACL in step with the new mode, in the chmod's transaction
    /// (<see cref="AclRules.AfterChmod"/>); an unchanged ACL is not rewritten.
    /// </summary>
    private void ChmodAccessAclLocked(Txn tx, Inode inode, ref InodeRecord rec)
    {
        var acl = AclRules.AfterChmod(inode, rec.Mode, out var access);
        if (acl.Failed) throw new ErrnoException(acl);
        if (access is null) return;
        var list = new List<KeyValuePair<byte[], byte[]>>(inode.Xattrs!);
        int at = FindXattr(inode, DiskPosixAcl.AccessName);
        if (list[at].Value.AsSpan().SequenceEqual(access)) return;
        list[at] = new(list[at].Key, access);
        long rslot = WriteXattrSet(tx, inode, list, ref rec);
        tx.OnCommit(() => { inode.Xattrs = list; inode.XattrRmapSlot = rslot; });
    }

    /// <summary>
    /// The bytes whose layout a size change touches: shrinking frees every block from the new
    /// size on (preallocation past the old size too); growing turns [old, new) into a hole and
    /// zeroes the old last block's tail in place.
    /// </summary>
    private static FileRange TruncateRange(long oldSize, long newSize) =>
        newSize < oldSize ? FileRange.From(newSize) : FileRange.Between(oldSize, newSize);

    /// <summary>
    /// The kernel's own dropping of suid/sgid: something is dropped and nothing else changes. A
    /// chmod to the unchanged mode is not that (an append-only file refuses it, as on Linux).
    /// </summary>
    private static bool OnlyClearsPrivileges(uint oldMode, uint newMode) =>
        newMode != oldMode && (newMode & ~oldMode) == 0 && ((oldMode ^ newMode) & ~(SetUid | SetGid)) == 0;
}
