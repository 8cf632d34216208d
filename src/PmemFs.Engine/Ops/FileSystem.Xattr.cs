using PmemFs.Engine.Acl;
using PmemFs.Engine.Inodes;
using PmemFs.Format;

namespace PmemFs.Engine;

public sealed partial class FileSystem
{
    public Errno GetXattr(ulong ino, ReadOnlySpan<byte> name, out byte[] value)
    {
        value = [];
        if (!XattrNamespaces.IsSupported(name)) return Errno.EOPNOTSUPP;
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterReadLock();
            try
            {
                var x = FindXattr(inode, name);
                if (x < 0) return Errno.ENODATA;
                value = inode.Xattrs![x].Value;
                return Errno.Ok;
            }
            finally { inode.Lock.ExitReadLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    public Errno ListXattr(ulong ino, out List<byte[]> names)
    {
        names = [];
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterReadLock();
            try
            {
                if (inode.Xattrs is not null) names = inode.Xattrs.Select(kv => kv.Key).ToList();
                return Errno.Ok;
            }
            finally { inode.Lock.ExitReadLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    /// <summary>
    /// setxattr. <paramref name="who"/> matters for the POSIX ACL names only (owner, group and
    /// CAP_FSETID for the setgid rule, <see cref="AclRules.Set"/>); the kernel checks the others.
    /// </summary>
    public Errno SetXattr(ulong ino, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, XattrSetFlags flags, Credentials? who = null) =>
        ChangeXattr(ino, name, value.ToArray(), flags, remove: false, who ?? Credentials.Root);

    public Errno RemoveXattr(ulong ino, ReadOnlySpan<byte> name, Credentials? who = null) =>
        ChangeXattr(ino, name, null, XattrSetFlags.None, remove: true, who ?? Credentials.Root);

    private static int FindXattr(Inode inode, ReadOnlySpan<byte> name)
    {
        var list = inode.Xattrs;
        if (list is null) return -1;
        for (int i = 0; i < list.Count; i++)
            if (name.SequenceEqual(list[i].Key)) return i;
        return -1;
    }

    /// <summary>Writes the whole new xattr set to fresh blocks, then one transaction switches the inode to it.</summary>
    private Errno ChangeXattr(ulong ino, ReadOnlySpan<byte> name, byte[]? value, XattrSetFlags flags, bool remove, Credentials who)
    {
        if (name.Length == 0 || name.Length > FormatConstants.MaxNameLength) return name.Length == 0 ? Errno.EINVAL : Errno.ERANGE;
        if (value is not null && value.Length > FormatConstants.MaxXattrValue) return Errno.E2BIG;
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterWriteLock();
            try
            {
                if (inode.Freed) return Errno.ESTALE;
                // As the kernel's xattr_permission: immutable and append-only refuse before the namespace is looked at.
                FlagRules.CheckXattrChange(inode);
                if (!XattrNamespaces.IsSupported(name)) return Errno.EOPNOTSUPP;
                // As the kernel's xattr_permission: user.* only on regular files and directories.
                if (XattrNamespaces.IsUser(name) && !inode.IsRegular && !inode.IsDirectory) return Errno.EPERM;
                var list = inode.Xattrs is null ? new List<KeyValuePair<byte[], byte[]>>() : new List<KeyValuePair<byte[], byte[]>>(inode.Xattrs);
                var rec = inode.Rec;
                if (XattrNamespaces.IsPosixAcl(name))
                {
                    // ACLs ignore XATTR_CREATE/REPLACE (Linux's set_posix_acl has no flags) and may change the mode.
                    var acl = AclRules.Set(inode, name, value, who, out var change);
                    if (acl.Failed || !change.Changes) return acl;
                    AclRules.Put(list, name, change.Stored);
                    rec.Mode = change.Mode;
                }
                else
                {
                    int at = FindXattr(inode, name);
                    if (remove && at < 0) return Errno.ENODATA;
                    if (!remove && flags.HasFlag(XattrSetFlags.Create) && at >= 0) return Errno.EEXIST;
                    if (!remove && flags.HasFlag(XattrSetFlags.Replace) && at < 0) return Errno.ENODATA;
                    AclRules.Put(list, name, remove ? null : value);
                }
                if (DiskXattrBlob.EncodedLength(list) > FormatConstants.MaxXattrTotal) return Errno.ENOSPC;

                using var tx = Txn.Begin(this);
                long rslot = WriteXattrSet(tx, inode, list, ref rec);
                rec.CtimeNs = Now();
                LogInode(tx, rec);
                tx.OnCommit(() =>
                {
                    inode.Rec = rec;
                    inode.Xattrs = list.Count > 0 ? list : null;
                    inode.XattrRmapSlot = rslot;
                });
                tx.Commit();
                return Errno.Ok;
            }
            finally { inode.Lock.ExitWriteLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    /// <summary>
    /// Logs the switch of an inode (<paramref name="inode"/>, null for one being created) to the
    /// xattr set <paramref name="list"/>: the old blob and its rmap record freed, the new set sealed
    /// into fresh contiguous blocks (persisted before the commit that points at them) with its own
    /// rmap record, <paramref name="rec"/> pointing at it. Returns the new rmap slot (-1: no xattrs).
    /// The caller logs <paramref name="rec"/> and publishes list and slot at commit.
    /// </summary>
    private long WriteXattrSet(Txn tx, Inode? inode, List<KeyValuePair<byte[], byte[]>> list, ref InodeRecord rec)
    {
        if (inode is not null && inode.Rec.XattrBlock != 0) FreeXattrBlob(tx, inode);
        rec.XattrBlock = 0; rec.XattrBlocks = 0; rec.XattrLength = 0;
        if (list.Count == 0) return -1;
        int len = DiskXattrBlob.EncodedLength(list);
        if (len > FormatConstants.MaxXattrTotal) throw new ErrnoException(Errno.ENOSPC);
        int blocks = (len + Bs - 1) / Bs;
        var buf = new byte[blocks * Bs];
        DiskXattrBlob.Seal(list, buf);
        var run = tx.AllocateBlocks(blocks, -1, 1);
        if (run.Count != 1) // keep blobs contiguous
            throw new ErrnoException(Errno.ENOSPC);
        long phys = run[0].Start;
        Media.Write(phys * Bs, buf);
        Media.Flush(phys * Bs, buf.Length);
        long rslot = Rmap.NewSlot(tx);
        Rmap.LogOwner(tx, rslot, new RmapRecord(phys, blocks, RmapOwnerKind.InodeXattr, rec.Ino, 0));
        rec.XattrBlock = phys; rec.XattrBlocks = (uint)blocks; rec.XattrLength = (uint)len;
        return rslot;
    }

    /// <summary>Logs the freeing of the inode's xattr blob and its rmap record.</summary>
    private void FreeXattrBlob(Txn tx, Inode inode)
    {
        tx.FreeBlocks(inode.Rec.XattrBlock, inode.Rec.XattrBlocks);
        Rmap.Free(tx, inode.XattrRmapSlot);
    }
}
