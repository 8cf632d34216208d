using PmemFs.Engine.Acl;
using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Format;

namespace PmemFs.Engine;

public sealed partial class FileSystem
{
    private const uint SetGid = 0x400; // S_ISGID

    public Errno Lookup(ulong parent, ReadOnlySpan<byte> name, out InodeAttributes attr)
    {
        attr = default;
        // "." and ".." by node id are how the kernel finds an inode for a file handle
        // (FileSystem.Handles.cs): "." of a file too, not only of a directory.
        if (name.SequenceEqual("."u8)) return LookupInode(parent, out attr);
        if (name.SequenceEqual(".."u8)) return LookupParent(parent, out attr);
        try
        {
            var dir = Get(parent);
            if (name.Length > FormatConstants.MaxNameLength) return Errno.ENAMETOOLONG;
            dir.Lock.EnterReadLock();
            ulong child;
            try
            {
                if (dir.Directory is null) return Errno.ENOTDIR;
                child = dir.Directory.Find(name)?.Child ?? 0;
            }
            finally { dir.Lock.ExitReadLock(); }
            if (child == 0) return Errno.ENOENT;
            return GetAttr(child, out attr);
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    public Errno GetAttr(ulong ino, out InodeAttributes attr)
    {
        attr = default;
        var inode = InodeAt(ino);
        if (inode is null) return Errno.ESTALE;
        if (Health.SickAnswer(ino) is { Failed: true } sick) return sick;
        inode.Lock.EnterReadLock();
        try
        {
            if (inode.Freed) return Errno.ESTALE;
            attr = AttributesOf(inode);
            return Errno.Ok;
        }
        finally { inode.Lock.ExitReadLock(); }
    }

    internal static InodeAttributes AttributesOf(Inode inode)
    {
        ref var r = ref inode.Rec;
        return new InodeAttributes
        {
            Ino = r.Ino,
            Generation = r.Generation,
            Mode = r.Mode,
            Nlink = r.Nlink,
            Uid = r.Uid,
            Gid = r.Gid,
            Rdev = r.Rdev,
            Size = inode.IsDirectory ? (inode.Directory!.Count + 2) * 32L : r.Size,
            Blocks512 = inode.AllocatedBlocks * (FormatConstants.BlockSize / 512),
            AtimeNs = r.AtimeNs,
            MtimeNs = r.MtimeNs,
            CtimeNs = r.CtimeNs,
            BtimeNs = r.BtimeNs,
            Flags = (InodeFlags)r.Flags,
            ProjectId = r.ProjectId,
        };
    }

    /// <summary>mknod/create: a regular file, FIFO, socket or device node.</summary>
    public Errno Create(ulong parent, ReadOnlySpan<byte> name, uint mode, Credentials who, out InodeAttributes attr, ulong rdev = 0)
    {
        uint type = mode & FileTypes.Mask;
        if (type == 0) mode |= FileTypes.Regular;
        else if (type is FileTypes.Directory or FileTypes.Symlink || !FileTypes.IsValid(type)) { attr = default; return Errno.EINVAL; }
        return MakeNode(parent, name, mode, who, rdev, null, out attr);
    }

    public Errno MakeDirectory(ulong parent, ReadOnlySpan<byte> name, uint mode, Credentials who, out InodeAttributes attr) =>
        MakeNode(parent, name, FileTypes.Directory | (mode & 0xFFF), who, 0, null, out attr);

    public Errno Symlink(ulong parent, ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, Credentials who, out InodeAttributes attr)
    {
        attr = default;
        if (target.Length == 0 || target.Length > FormatConstants.MaxSymlinkLength || target.IndexOf((byte)0) >= 0)
            return target.Length == 0 ? Errno.ENOENT : Errno.ENAMETOOLONG;
        return MakeNode(parent, name, FileTypes.Symlink | 0x1FF, who, 0, target.ToArray(), out attr);
    }

    private Errno MakeNode(ulong parent, ReadOnlySpan<byte> nameSpan, uint mode, Credentials who, ulong rdev, byte[]? symlinkTarget, out InodeAttributes attr)
    {
        attr = default;
        var nameCheck = CheckName(nameSpan);
        if (nameCheck.Failed) return nameCheck;
        byte[] name = nameSpan.ToArray();
        try
        {
            var dir = Get(parent);
            dir.Lock.EnterWriteLock();
            try
            {
                CheckLiveDirectory(dir);
                if (dir.Directory!.Find(name) is not null) return Errno.EEXIST;
                FlagRules.CheckAddEntry(dir);
                if ((mode & FileTypes.Mask) == FileTypes.Directory && dir.Rec.Nlink >= uint.MaxValue - 1) return Errno.EMLINK;
                // The directory's default ACL, or else the caller's umask (0 when the kernel applied it).
                var inherit = AclRules.Inherit(dir, ref mode, who.Umask, out var xattrs);
                if (inherit.Failed) return inherit;
                using var tx = Txn.Begin(this);
                var child = NewInode(tx, dir, mode, who, rdev, xattrs);
                if (symlinkTarget is not null) WriteSymlinkTarget(tx, child, symlinkTarget);
                AddEntry(tx, dir, name, child);
                long now = Now();
                var drec = dir.Rec;
                drec.MtimeNs = drec.CtimeNs = now;
                if (child.IsDirectory) drec.Nlink++;
                LogInode(tx, drec);
                tx.OnCommitStore(dir, drec);
                tx.OnCommitPublish(child);
                tx.Commit();
                attr = AttributesOf(child);
                return Errno.Ok;
            }
            finally { dir.Lock.ExitWriteLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    /// <summary>
    /// O_TMPFILE: a regular file in no directory (nlink 0), with the mode, owner, group and ACLs a
    /// file created in <paramref name="parent"/> would get. Like an unlinked open file it keeps
    /// its data until the last close and is freed with the kernel's last reference, or at the
    /// next mount after a crash (an orphan); <see cref="Link"/> may give it a name once.
    /// </summary>
    public Errno CreateTmpFile(ulong parent, uint mode, Credentials who, out InodeAttributes attr)
    {
        attr = default;
        if ((mode & FileTypes.Mask) is not (0 or FileTypes.Regular)) return Errno.EINVAL;
        mode = FileTypes.Regular | (mode & 0xFFF);
        try
        {
            var dir = Get(parent);
            dir.Lock.EnterWriteLock();
            try
            {
                CheckLiveDirectory(dir);
                FlagRules.CheckAddEntry(dir);
                var inherit = AclRules.Inherit(dir, ref mode, who.Umask, out var xattrs);
                if (inherit.Failed) return inherit;
                using var tx = Txn.Begin(this);
                var child = NewInode(tx, dir, mode, who, 0, xattrs, named: false);
                child.Linkable = true;
                tx.OnCommitPublish(child);
                tx.Commit();
                attr = AttributesOf(child);
                return Errno.Ok;
            }
            finally { dir.Lock.ExitWriteLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    private static Errno CheckName(ReadOnlySpan<byte> name)
    {
        if (name.Length > FormatConstants.MaxNameLength) return Errno.ENAMETOOLONG;
        if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8)) return Errno.EEXIST;
        return DiskDirent.IsValidName(name) ? Errno.Ok : Errno.EINVAL;
    }

    private static void CheckLiveDirectory(Inode dir)
    {
        if (dir.Freed) throw new ErrnoException(Errno.ESTALE);
        if (dir.Directory is null) throw new ErrnoException(Errno.ENOTDIR);
        if (dir.Rec.Nlink == 0) throw new ErrnoException(Errno.ENOENT); // removed directory
    }

    /// <summary>A new inode in a free slot with its first <paramref name="xattrs"/> (inherited ACLs), logged; not yet published.</summary>
    private Inode NewInode(Txn tx, Inode dir, uint mode, Credentials who, ulong rdev, List<KeyValuePair<byte[], byte[]>>? xattrs = null, bool named = true)
    {
        long slot = tx.AllocateSlot(InodeSlots);
        var old = DiskInode.VerifyRead(Media.Read(Geometry.InodeOffset(slot), DiskInode.Size), Geometry.InoOfSlot(slot), out var prev);
        // Mount quarantines free slots it finds damaged: one damaged now was changed under us.
        if (old.Verdict is Verdict.BadChecksum or Verdict.Corrupt) ShutDownOnDamage(old, $"free inode slot {slot}");
        uint generation = old.IsOk ? prev.Generation + 1 : 1;
        if (generation == 0) generation = 1;
        bool isDir = (mode & FileTypes.Mask) == FileTypes.Directory;
        uint gid = who.Gid;
        if ((dir.Rec.Mode & SetGid) != 0)
        {
            // BSD group semantics under a setgid directory, and setgid propagates to subdirectories.
            gid = dir.Rec.Gid;
            if (isDir) mode |= SetGid;
        }
        long now = Now();
        var inherited = (InodeFlags)dir.Rec.Flags & InodeFlags.Dax;
        bool inheritsFlags = isDir || (mode & FileTypes.Mask) == FileTypes.Regular;
        var rec = new InodeRecord
        {
            Ino = Geometry.InoOfSlot(slot),
            Generation = generation,
            Mode = mode,
            Uid = who.Uid,
            Gid = gid,
            Nlink = !named ? 0u : isDir ? 2u : 1u,
            Flags = inheritsFlags ? (ulong)inherited : 0,
            ProjectId = dir.Rec.ProjectId,
            Rdev = rdev,
            AtimeNs = now, MtimeNs = now, CtimeNs = now, BtimeNs = now,
        };
        long rslot = xattrs is null ? -1 : WriteXattrSet(tx, null, xattrs, ref rec);
        LogInode(tx, rec);
        return new Inode(rec) { Directory = isDir ? new DirectoryIndex() : null, Parent = isDir ? dir.Ino : 0, Xattrs = xattrs, XattrRmapSlot = rslot };
    }

    private DirEntry AddEntry(Txn tx, Inode dir, byte[] name, Inode child)
    {
        long slot = tx.AllocateSlot(DirentSlots);
        var e = new DirEntry(name, child.Ino, FileTypes.ToDirentType(child.Rec.Mode), slot);
        LogDirent(tx, dir.Ino, e);
        tx.OnCommitAddEntry(dir, e);
        return e;
    }

    private void LogDirent(Txn tx, ulong parent, DirEntry e)
    {
        Span<byte> buf = stackalloc byte[DiskDirent.Size];
        DiskDirent.Seal(new DirentRecord(parent, e.Child, e.Type, e.Name), buf);
        tx.Log.Write(Geometry.DirentOffset(e.Slot), buf);
    }

    private void RemoveEntry(Txn tx, Inode dir, DirEntry e)
    {
        tx.FreeSlot(DirentSlots, e.Slot, Geometry.DirentOffset(e.Slot), DiskDirent.Size);
        tx.OnCommitRemoveEntry(dir, e);
    }

    public Errno Link(ulong ino, ulong newParent, ReadOnlySpan<byte> newName, out InodeAttributes attr)
    {
        attr = default;
        var nameCheck = CheckName(newName);
        if (nameCheck.Failed) return nameCheck;
        byte[] name = newName.ToArray();
        try
        {
            var dir = Get(newParent);
            var target = Get(ino);
            if (target.IsDirectory) return Errno.EPERM;
            dir.Lock.EnterWriteLock();
            try
            {
                CheckLiveDirectory(dir);
                target.Lock.EnterWriteLock();
                try
                {
                    if (target.Freed) return Errno.ESTALE;
                    if (target.Rec.Nlink == 0 && !target.Linkable) return Errno.ENOENT; // only an O_TMPFILE file comes back
                    if (target.Rec.Nlink >= uint.MaxValue - 1) return Errno.EMLINK;
                    if (dir.Directory!.Find(name) is not null) return Errno.EEXIST;
                    FlagRules.CheckLinkTarget(target);
                    FlagRules.CheckAddEntry(dir);
                    using var tx = Txn.Begin(this);
                    AddEntry(tx, dir, name, target);
                    long now = Now();
                    var trec = target.Rec;
                    trec.Nlink++;
                    trec.CtimeNs = now;
                    LogInode(tx, trec);
                    var drec = dir.Rec;
                    drec.MtimeNs = drec.CtimeNs = now;
                    LogInode(tx, drec);
                    tx.OnCommit(() => { target.Rec = trec; dir.Rec = drec; target.Linkable = false; });
                    tx.Commit();
                    attr = AttributesOf(target);
                    return Errno.Ok;
                }
                finally { target.Lock.ExitWriteLock(); }
            }
            finally { dir.Lock.ExitWriteLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    public Errno Unlink(ulong parent, ReadOnlySpan<byte> name) => RemoveName(parent, name, directory: false);

    public Errno RemoveDirectory(ulong parent, ReadOnlySpan<byte> name) => RemoveName(parent, name, directory: true);

    private Errno RemoveName(ulong parent, ReadOnlySpan<byte> name, bool directory)
    {
        if (name.SequenceEqual("."u8)) return Errno.EINVAL;
        if (name.SequenceEqual(".."u8)) return Errno.ENOTEMPTY;
        if (name.Length > FormatConstants.MaxNameLength) return Errno.ENAMETOOLONG;
        try
        {
            var dir = Get(parent);
            dir.Lock.EnterWriteLock();
            try
            {
                CheckLiveDirectory(dir);
                var entry = dir.Directory!.Find(name);
                if (entry is null) return Errno.ENOENT;
                var child = Get(entry.Child);
                child.Lock.EnterWriteLock();
                try
                {
                    if (directory && !child.IsDirectory) return Errno.ENOTDIR;
                    if (!directory && child.IsDirectory) return Errno.EISDIR;
                    FlagRules.CheckRemove(dir, child);
                    if (directory && child.Directory!.Count > 0) return Errno.ENOTEMPTY;
                    var broken = BreakLayoutsOfLastName(child);
                    if (!broken.MayProceed) return broken.Errno;
                    using var tx = Txn.Begin(this);
                    RemoveEntry(tx, dir, entry);
                    long now = Now();
                    var crec = child.Rec;
                    crec.Nlink = directory ? 0 : crec.Nlink - 1;
                    crec.CtimeNs = now;
                    LogInode(tx, crec);
                    var drec = dir.Rec;
                    drec.MtimeNs = drec.CtimeNs = now;
                    if (directory) drec.Nlink--;
                    LogInode(tx, drec);
                    tx.OnCommitStore(child, crec);
                    tx.OnCommitStore(dir, drec);
                    tx.Commit();
                    if (crec.Nlink == 0 && Interlocked.Read(ref child.References) == 0)
                    {
                        FreeInodeLocked(child);
                    }
                    else if (crec.Nlink == 0 && Interlocked.Read(ref child.OpenHandles) == 0)
                    {
                        // Nobody has it open: its space is free now, as on a kernel file system,
                        // not when the kernel gets round to forgetting the inode.
                        ReleaseDataOfOrphanLocked(child);
                    }
                }
                finally { child.Lock.ExitWriteLock(); }
            }
            finally { dir.Lock.ExitWriteLock(); }
            return Errno.Ok;
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    /// <summary>
    /// Removing the last name of a regular file (unlink, or a rename over it) is a layout change
    /// of the whole file: its blocks are freed once nobody has it open, so leases on it are
    /// broken first. Through no handle: a name has none.
    /// </summary>
    private LayoutBreak BreakLayoutsOfLastName(Inode child) =>
        child.IsRegular && child.Rec.Nlink == 1 ? Leases.BreakLayouts(child.Ino, FileRange.WholeFile, 0) : LayoutBreak.Proceed;

    public Errno ReadLink(ulong ino, out byte[] target)
    {
        target = [];
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterReadLock();
            try
            {
                if (inode.Rec.FileType != FileTypes.Symlink) return Errno.EINVAL;
                var buf = new byte[inode.Rec.Size];
                ReadLocked(inode, 0, buf);
                target = buf;
                return Errno.Ok;
            }
            finally { inode.Lock.ExitReadLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    /// <summary>One readdir entry: name, inode, type, and the cookie to resume after it.</summary>
    public readonly record struct DirectoryItem(byte[] Name, ulong Ino, byte Type, long NextCookie);

    /// <summary>
    /// Lists entries from <paramref name="cookie"/> (0 = start; then what the previous item's
    /// NextCookie said): ".", "..", then entries in slot order. <paramref name="sink"/> returns
    /// false when its buffer is full; that entry is offered again next time.
    /// </summary>
    public Errno ReadDirectory(ulong ino, long cookie, Func<DirectoryItem, bool> sink)
    {
        try
        {
            var dir = Get(ino);
            dir.Lock.EnterReadLock();
            try
            {
                if (dir.Directory is null) return Errno.ENOTDIR;
                byte dt = FileTypes.ToDirentType(FileTypes.Directory);
                if (cookie <= 0 && !sink(new DirectoryItem("."u8.ToArray(), dir.Ino, dt, 1))) return Errno.Ok;
                if (cookie <= 1 && !sink(new DirectoryItem(".."u8.ToArray(), dir.Parent, dt, 2))) return Errno.Ok;
                foreach (var e in dir.Directory.From(Math.Max(0, cookie - 2)))
                    if (!sink(new DirectoryItem(e.Name, e.Child, e.Type, e.Slot + 3))) break;
                return Errno.Ok;
            }
            finally { dir.Lock.ExitReadLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    public StatFsInfo StatFs()
    {
        var g = Geometry;
        return new StatFsInfo(FormatConstants.BlockSize, g.DataBlocks, Blocks.FreeBlocks, g.InodeCount, InodeSlots.Free, FormatConstants.MaxNameLength);
    }

    /// <summary>The kernel took <paramref name="count"/> more references (FUSE lookup count).</summary>
    public void Retain(ulong ino, long count = 1)
    {
        var inode = InodeAt(ino);
        if (inode is not null) Interlocked.Add(ref inode.References, count);
    }

    /// <summary>A file handle was opened on <paramref name="ino"/> (FUSE open or create).</summary>
    public void Opened(ulong ino)
    {
        var inode = InodeAt(ino);
        if (inode is not null) Interlocked.Increment(ref inode.OpenHandles);
    }

    /// <summary>
    /// File handle <paramref name="handle"/> of <paramref name="ino"/> was released (FUSE
    /// release): its leases and pins end, then as <see cref="Closed(ulong)"/>.
    /// </summary>
    public void Closed(ulong ino, ulong handle)
    {
        if (handle != 0) Leases.EndLeasesOfHandle(handle);
        Closed(ino);
    }

    /// <summary>A file handle was released: the last one of an unlinked file frees its data.</summary>
    public void Closed(ulong ino)
    {
        var inode = InodeAt(ino);
        if (inode is null || Interlocked.Decrement(ref inode.OpenHandles) > 0) return;
        Interlocked.Exchange(ref inode.OpenHandles, 0);
        if (Volatile.Read(ref inode.Rec.Nlink) != 0 && inode.DaxHeldUntilClose is null) return;
        inode.Lock.EnterWriteLock();
        try
        {
            if (Interlocked.Read(ref inode.OpenHandles) != 0) return;
            inode.DaxHeldUntilClose = null; // a DAX change made while open takes effect now
            if (inode.Rec.Nlink == 0) ReleaseDataOfOrphanLocked(inode);
        }
        finally { inode.Lock.ExitWriteLock(); }
    }

    /// <summary>Frees the blocks of an unlinked, unopened file whose inode the kernel still holds.</summary>
    private void ReleaseDataOfOrphanLocked(Inode inode)
    {
        if (inode.Freed || !inode.IsRegular || inode.Extents.Count == 0 || Options.ReadOnly || Health.IsSick(inode.Ino)) return;
        Leases.EndLeasesOfInode(inode.Ino); // none by now (the unlink broke them): never free under a lease
        try { TrimLocked(inode, 0); }
        catch (ErrnoException) { /* ENOSPC splitting an extent: freed with the inode instead */ }
    }

    /// <summary>The kernel dropped references; an unlinked inode is freed with its last one.</summary>
    public void Forget(ulong ino, long count = 1)
    {
        var inode = InodeAt(ino);
        if (inode is null) return;
        long left = Interlocked.Add(ref inode.References, -count);
        if (left > 0) return;
        if (left < 0) Interlocked.Exchange(ref inode.References, 0);
        inode.Lock.EnterWriteLock();
        try
        {
            if (!inode.Freed && inode.Rec.Nlink == 0 && Interlocked.Read(ref inode.References) == 0 && !Options.ReadOnly)
                FreeInodeLocked(inode);
        }
        catch (ErrnoException) { /* EROFS or ENOSPC on a split extent: the orphan is freed at next mount */ }
        finally { inode.Lock.ExitWriteLock(); }
    }

    /// <summary>Frees an inode with no links: its blocks (in batches if many), its xattrs, then the slot.</summary>
    private void FreeInodeLocked(Inode inode)
    {
        // A sick file's extents and xattrs are not known well enough to free anything of it.
        if (inode.Freed || Health.IsSick(inode.Ino)) return;
        Leases.EndLeasesOfInode(inode.Ino);
        TrimLocked(inode, 0);
        using var tx = Txn.Begin(this);
        if (inode.Rec.XattrBlock != 0) FreeXattrBlob(tx, inode);
        var rec = new InodeRecord { Ino = inode.Ino, Generation = inode.Rec.Generation };
        LogInode(tx, rec);
        tx.FreeSlotKeepingRecord(InodeSlots, inode.Slot);
        tx.OnCommit(() =>
        {
            inode.Freed = true;
            inode.Rec = rec;
            inode.Xattrs = null;
            Unpublish(inode);
        });
        tx.Commit();
    }
}
