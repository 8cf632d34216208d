using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Format;
using DiskState = PmemFs.Format.ExtentState;

namespace PmemFs.Engine.Mapping;

// prepare-write: docs/leases.md, "prepare-write". The checks are its own; the blocks are
// mapped by MapForWrite with nothing to store, so every new or converted block is zeroed whole.
internal sealed partial class Mapper
{
    /// <summary>See <see cref="FileSystem.PrepareWrite"/>.</summary>
    public Errno PrepareWrite(ulong ino, ulong handle, long offset, long length, PrepareWriteFlags flags, Credentials who)
    {
        var check = FileRange.Check(offset, length);
        if (check.Failed) return check;
        if ((flags & ~PrepareWriteFlags.ExtendSize) != 0) return Errno.EINVAL;
        if (handle == 0) return Errno.EBADF;
        long end = offset + length;
        if (end > FormatConstants.MaxFileSize) return Errno.EFBIG;
        // Before anything else about the file: the holder's stores would change a read-only mount.
        if (fs.Options.ReadOnly) return Errno.EROFS;
        var inode = fs.InodeAt(ino);
        if (inode is null) return Errno.ESTALE;
        if (fs.Health.SickAnswer(ino) is { Failed: true } sick) return sick;
        inode.Lock.EnterWriteLock();
        try
        {
            if (inode.Freed) return Errno.ESTALE;
            if (inode.IsDirectory) return Errno.EISDIR;
            if (!inode.IsRegular) return Errno.EINVAL;
            // A write lease needs DAX at grant time; a DAX change waits for the last close, so this
            // only guards a host that passes a handle of another file.
            if (!fs.DaxNow(inode)) return Errno.EOPNOTSUPP;
            var leased = fs.Leases.CheckWriteLease(ino, handle, new FileRange(offset, length));
            if (leased.Failed) return leased;
            var fileFlags = FlagRules.Of(inode);
            // Direct stores cannot be held to "append only" or "no change": no direct writes at all.
            if ((fileFlags & (InodeFlags.Immutable | InodeFlags.Append)) != 0) return Errno.EPERM;

            long size = inode.Rec.Size;
            bool extend = flags.HasFlag(PrepareWriteFlags.ExtendSize) && end > size;
            if (!extend && end > RoundUp(size)) return Errno.ENXIO;
            long b0 = offset / Bs, b1 = (end + Bs - 1) / Bs;
            // Direct stores cannot clear poison, and loads of the rest of a bad block would fault:
            // poisoned blocks are cleared by a write through the mount, zero range or punch first.
            if (fs.Poison.FirstPoisonedByte(inode, b0 * Bs, (b1 - b0) * Bs, out _) >= 0) return Errno.EIO;
            // Shared blocks are copied first (a holder's stores must reach this file only).
            bool mapWork = !FullyWritten(inode, b0, b1) || AnyShared(inode, b0, b1);
            var rec = inode.Rec;
            FileSystem.KillPrivileges(ref rec, who);
            bool privileges = rec.Mode != inode.Rec.Mode;
            if (!mapWork && !extend && !privileges) return Errno.Ok;
            // Rule 7: the map of a DAX_IMMUTABLE file never changes, so a range that needs blocks,
            // conversion or a larger size cannot be prepared (rule 3's EPERM). Its metadata is
            // frozen too (rule 4): the set-id bits stay.
            if ((fileFlags & InodeFlags.DaxImmutable) != 0) return mapWork || extend ? Errno.EPERM : Errno.Ok;

            using var tx = Txn.Begin(fs);
            // Bytes between the old EOF and the end of its block become part of the file: zeros.
            if (extend) ZeroTailBeyondEof(inode, end);
            if (mapWork) MapForWrite(tx, inode, b0, b1, new NothingToStore());
            if (extend) rec.Size = end;
            rec.MtimeNs = rec.CtimeNs = FileSystem.Now();
            fs.LogInode(tx, rec);
            // One transaction or none (all or nothing); a range so fragmented that its records do
            // not fit the log's limit is refused whole: the caller prepares it in parts.
            if (tx.Log.EncodedLength > fs.Log.MaxTransactionBytes) return Errno.E2BIG;
            tx.OnCommitStore(inode, rec);
            tx.Commit();
            return Errno.Ok;
        }
        catch (ErrnoException e) { return e.Errno; }
        finally { inode.Lock.ExitWriteLock(); }
    }

    /// <summary>Whether file blocks [b0, b1) are all mapped to written extents.</summary>
    private static bool FullyWritten(Inode inode, long b0, long b1)
    {
        long cursor = b0;
        foreach (var e in inode.Extents.Overlapping(b0, b1))
        {
            if (e.FileBlock > cursor || e.State != DiskState.Written) return false;
            cursor = e.FileEnd;
        }
        return cursor >= b1;
    }
}
