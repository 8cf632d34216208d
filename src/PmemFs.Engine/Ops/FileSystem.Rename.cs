using PmemFs.Engine.Inodes;
using PmemFs.Format;

namespace PmemFs.Engine;

public sealed partial class FileSystem
{
    /// <summary>
    /// rename(2) / renameat2 with RENAME_NOREPLACE or RENAME_EXCHANGE, as one transaction. A
    /// moved entry keeps its dirent slot (rewritten with the new parent and name), so the move
    /// is a single record write plus link counts and times.
    /// </summary>
    public Errno Rename(ulong srcParent, ReadOnlySpan<byte> srcName, ulong dstParent, ReadOnlySpan<byte> dstName, RenameFlags flags = RenameFlags.None)
    {
        if ((flags & ~(RenameFlags.NoReplace | RenameFlags.Exchange)) != 0) return Errno.EINVAL;
        if (flags == (RenameFlags.NoReplace | RenameFlags.Exchange)) return Errno.EINVAL;
        if (IsDotOrDotDot(srcName) || IsDotOrDotDot(dstName)) return Errno.EBUSY;
        var nameCheck = CheckName(dstName);
        if (nameCheck.Failed) return nameCheck;
        if (srcName.Length > FormatConstants.MaxNameLength) return Errno.ENAMETOOLONG;
        byte[] src = srcName.ToArray(), dst = dstName.ToArray();
        try
        {
            var sdir = Get(srcParent);
            var ddir = Get(dstParent);
            bool crossDir = sdir != ddir;
            if (crossDir) _renameLock.Enter();
            try
            {
                // Directories: ancestor first, otherwise by inode number.
                var (first, second) = !crossDir ? (sdir, null)
                    : IsAncestor(sdir, ddir) ? (sdir, ddir)
                    : IsAncestor(ddir, sdir) ? (ddir, sdir)
                    : sdir.Ino < ddir.Ino ? (sdir, ddir) : (ddir, sdir);
                first.Lock.EnterWriteLock();
                try
                {
                    second?.Lock.EnterWriteLock();
                    try
                    {
                        CheckLiveDirectory(sdir);
                        CheckLiveDirectory(ddir);
                        return RenameLocked(sdir, src, ddir, dst, flags);
                    }
                    finally { second?.Lock.ExitWriteLock(); }
                }
                finally { first.Lock.ExitWriteLock(); }
            }
            finally { if (crossDir) _renameLock.Exit(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    private static bool IsDotOrDotDot(ReadOnlySpan<byte> n) => n.SequenceEqual("."u8) || n.SequenceEqual(".."u8);

    /// <summary>Whether <paramref name="a"/> is <paramref name="b"/> or above it. Needs _renameLock for a stable answer.</summary>
    private bool IsAncestor(Inode a, Inode b)
    {
        var cur = b;
        for (int depth = 0; depth < 65536; depth++)
        {
            if (cur == a) return true;
            if (cur.Ino == FormatConstants.RootIno) return false;
            cur = InodeAt(cur.Parent);
            if (cur is null) return false;
        }
        return false;
    }

    private Errno RenameLocked(Inode sdir, byte[] srcName, Inode ddir, byte[] dstName, RenameFlags flags)
    {
        var se = sdir.Directory!.Find(srcName);
        if (se is null) return Errno.ENOENT;
        var de = ddir.Directory!.Find(dstName);
        if (flags.HasFlag(RenameFlags.Exchange) && de is null) return Errno.ENOENT;
        if (flags.HasFlag(RenameFlags.NoReplace) && de is not null) return Errno.EEXIST;
        var sChild = Get(se.Child);
        var dChild = de is null ? null : Get(de.Child);
        if (dChild == sChild) return Errno.Ok; // two links to one inode: POSIX says do nothing

        // Moving a directory under itself (or, for exchange, either way) is a loop.
        if (sChild.IsDirectory && sdir != ddir && IsAncestor(sChild, ddir)) return Errno.EINVAL;
        if (flags.HasFlag(RenameFlags.Exchange) && dChild!.IsDirectory && sdir != ddir && IsAncestor(dChild, sdir)) return Errno.EINVAL;
        if (!flags.HasFlag(RenameFlags.Exchange) && dChild is not null)
        {
            if (sChild.IsDirectory && !dChild.IsDirectory) return Errno.ENOTDIR;
            if (!sChild.IsDirectory && dChild.IsDirectory) return Errno.EISDIR;
            // A directory above the source is never empty; refuse before locking it out of order.
            if (dChild.IsDirectory && IsAncestor(dChild, sdir)) return Errno.ENOTEMPTY;
        }

        var (c1, c2) = dChild is null || sChild.Ino < dChild.Ino ? (sChild, dChild) : (dChild, sChild);
        c1.Lock.EnterWriteLock();
        try
        {
            c2?.Lock.EnterWriteLock();
            try
            {
                FlagRules.CheckRemove(sdir, sChild);
                FlagRules.CheckAddEntry(ddir);
                if (dChild is not null) FlagRules.CheckRemove(ddir, dChild);
                if (flags.HasFlag(RenameFlags.Exchange)) FlagRules.CheckAddEntry(sdir);
                if (!flags.HasFlag(RenameFlags.Exchange) && dChild is not null && dChild.IsDirectory && dChild.Directory!.Count > 0)
                    return Errno.ENOTEMPTY;
                if (!flags.HasFlag(RenameFlags.Exchange) && dChild is not null)
                {
                    var broken = BreakLayoutsOfLastName(dChild);
                    if (!broken.MayProceed) return broken.Errno;
                }
                using var tx = Txn.Begin(this);
                long now = Now();
                var srec = sdir.Rec;
                var drec = sdir == ddir ? srec : ddir.Rec;
                var scRec = sChild.Rec;
                scRec.CtimeNs = now;
                InodeRecord dcRec = dChild?.Rec ?? default;
                bool freeDst = false;

                if (flags.HasFlag(RenameFlags.Exchange))
                {
                    dcRec.CtimeNs = now;
                    // Swap the two entries' targets in place.
                    var newSe = new DirEntry(se.Name, dChild!.Ino, FileTypes.ToDirentType(dChild.Rec.Mode), se.Slot);
                    var newDe = new DirEntry(de!.Name, sChild.Ino, FileTypes.ToDirentType(sChild.Rec.Mode), de.Slot);
                    LogDirent(tx, sdir.Ino, newSe);
                    LogDirent(tx, ddir.Ino, newDe);
                    if (sdir != ddir && sChild.IsDirectory != dChild.IsDirectory)
                    {
                        int delta = sChild.IsDirectory ? 1 : -1; // the directory moves from sdir to ddir
                        srec.Nlink = (uint)(srec.Nlink - delta);
                        drec.Nlink = (uint)(drec.Nlink + delta);
                    }
                    tx.OnCommit(() =>
                    {
                        sdir.Directory!.Remove(se); ddir.Directory!.Remove(de);
                        sdir.Directory.Add(newSe); ddir.Directory.Add(newDe);
                        if (sChild.IsDirectory) sChild.Parent = ddir.Ino;
                        if (dChild.IsDirectory) dChild.Parent = sdir.Ino;
                    });
                }
                else
                {
                    if (de is not null)
                    {
                        // The replaced entry goes away; its inode loses a link.
                        RemoveEntry(tx, ddir, de);
                        dcRec.CtimeNs = now;
                        if (dChild!.IsDirectory) { dcRec.Nlink = 0; drec.Nlink--; }
                        else dcRec.Nlink--;
                        freeDst = dcRec.Nlink == 0;
                    }
                    var moved = new DirEntry(dstName, sChild.Ino, se.Type, se.Slot);
                    LogDirent(tx, ddir.Ino, moved);
                    if (sChild.IsDirectory && sdir != ddir) { srec.Nlink--; drec.Nlink++; }
                    tx.OnCommit(() =>
                    {
                        sdir.Directory!.Remove(se);
                        ddir.Directory!.Add(moved);
                        if (sChild.IsDirectory) sChild.Parent = ddir.Ino;
                    });
                }
                srec.MtimeNs = srec.CtimeNs = now;
                drec.MtimeNs = drec.CtimeNs = now;
                if (sdir == ddir) srec = drec with { Nlink = drec.Nlink };
                LogInode(tx, srec);
                if (sdir != ddir) LogInode(tx, drec);
                LogInode(tx, scRec);
                if (dChild is not null) LogInode(tx, dcRec);
                tx.OnCommit(() =>
                {
                    sdir.Rec = srec;
                    if (sdir != ddir) ddir.Rec = drec;
                    sChild.Rec = scRec;
                    if (dChild is not null) dChild.Rec = dcRec;
                });
                tx.Commit();
                if (freeDst && Interlocked.Read(ref dChild!.References) == 0) FreeInodeLocked(dChild);
                return Errno.Ok;
            }
            finally { c2?.Lock.ExitWriteLock(); }
        }
        finally { c1.Lock.ExitWriteLock(); }
    }
}
