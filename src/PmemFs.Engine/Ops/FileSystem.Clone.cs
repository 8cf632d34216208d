using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Format;
using DiskState = PmemFs.Format.ExtentState;

namespace PmemFs.Engine;

public sealed partial class FileSystem
{
    /// <summary>Source extents plus destination extents per clone transaction (keeps each bounded, as fallocate's windows).</summary>
    internal const int CloneBatch = 128;

    /// <summary>
    /// Reflink (FICLONERANGE, and the block-aligned middle of copy_file_range): file blocks of
    /// <paramref name="srcIno"/> from <paramref name="srcOffset"/> become the blocks of
    /// <paramref name="dstIno"/> from <paramref name="dstOffset"/>, shared (reference-counted,
    /// copied on a later write by either file), with no data copied. Holes and unwritten
    /// (preallocated) blocks of the source become holes of the destination: both read as zeros.
    /// The destination's old blocks in the range lose a reference; its size grows to the range's
    /// end if shorter. Each transaction is durable when it commits; a range of more than
    /// <see cref="CloneBatch"/> extents is several transactions, each whole, in file order.
    /// </summary>
    /// <param name="length">Bytes; 0 means "to the source's end of file". A length that is not a
    /// block multiple is allowed only when it reaches the source's end of file and the
    /// destination's range reaches or passes the destination's end of file (Linux's rule): the
    /// whole blocks are shared and the last partial block is copied, so the block holding a
    /// file's end is never shared.</param>
    /// <param name="dstHandle">The destination's open handle (FUSE fh), whose own leases are not recalled; 0 for none.</param>
    /// <param name="cloned">Bytes now shared or copied: <paramref name="length"/> (after 0 is resolved), or less when the source ends first.
    /// Also set when a later window fails (ENOSPC): the bytes of the windows already committed, from the start of the range.</param>
    /// <returns>
    /// Ok, or, with nothing changed: EINVAL (unaligned offsets or length, overlapping ranges in one
    /// file, not a regular file), EISDIR, EPERM (immutable or append-only destination; a
    /// DAX_IMMUTABLE source or destination, rule 2: it never shares), EFBIG, EROFS, ESTALE,
    /// ETXTBSY (a leased range is pinned), <see cref="Errno.RetryAfterRecall"/> (leases recalled:
    /// retry when they end), ENOSPC (no slots or blocks: transactions already committed stay, the
    /// rest is not done), EMLINK (a block would have more owners than a record can count).
    /// </returns>
    public Errno CloneRange(ulong srcIno, long srcOffset, ulong dstIno, long dstOffset, long length, Credentials who, ulong dstHandle, out long cloned)
    {
        cloned = 0;
        if (srcOffset < 0 || dstOffset < 0 || length < 0) return Errno.EINVAL;
        if (srcOffset % Bs != 0 || dstOffset % Bs != 0) return Errno.EINVAL;
        if (Options.ReadOnly) return Errno.EROFS;
        try
        {
            var src = Get(srcIno);
            var dst = Get(dstIno);
            var first = src.Ino <= dst.Ino ? src : dst;
            var second = src.Ino <= dst.Ino ? dst : src;
            first.Lock.EnterWriteLock();
            if (second != first) second.Lock.EnterWriteLock();
            try
            {
                var check = CheckCloneable(src, dst);
                if (check.Failed) return check;
                long srcSize = src.Rec.Size;
                if (length == 0) length = Math.Max(0, srcSize - srcOffset);
                // Only what the source has: a range past its EOF is cut there (as copy_file_range).
                length = Math.Min(length, Math.Max(0, srcSize - srcOffset));
                if (length == 0) return Errno.Ok;
                if (dstOffset > FormatConstants.MaxFileSize - length) return Errno.EFBIG;
                bool reachesSrcEof = srcOffset + length == srcSize;
                if (length % Bs != 0 && !(reachesSrcEof && dstOffset + length >= dst.Rec.Size)) return Errno.EINVAL;
                long span = Mapping.Mapper.RoundUp(length);
                if (src == dst && srcOffset < dstOffset + span && dstOffset < srcOffset + span) return Errno.EINVAL;

                long whole = length / Bs * Bs;
                long touchedEnd = dstOffset + span;
                // The destination's blocks are replaced; the source's become shared, so a write-lease
                // holder's direct stores there would reach the destination too.
                var broken = Leases.BreakLayouts(dst.Ino, FileRange.Between(Math.Min(dstOffset, dst.Rec.Size / Bs * Bs), touchedEnd), dstHandle);
                if (!broken.MayProceed) return broken.Errno;
                if (whole > 0)
                {
                    broken = Leases.BreakLayouts(src.Ino, FileRange.Between(srcOffset, srcOffset + whole), src == dst ? dstHandle : 0);
                    if (!broken.MayProceed) return broken.Errno;
                }

                // The source's last partial block is copied, in the last transaction (never shared, see above).
                var tail = new byte[length - whole];
                if (tail.Length > 0) ReadLocked(src, srcOffset + whole, tail);
                // A failing window throws; cloned keeps what the earlier windows committed.
                ShareWholeBlocks(src, srcOffset / Bs, dst, dstOffset / Bs, whole / Bs, tail, who, ref cloned);
                cloned = length;
                return Errno.Ok;
            }
            finally
            {
                if (second != first) second.Lock.ExitWriteLock();
                first.Lock.ExitWriteLock();
            }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    private static Errno CheckCloneable(Inode src, Inode dst)
    {
        if (src.Freed || dst.Freed) return Errno.ESTALE;
        if (src.IsDirectory || dst.IsDirectory) return Errno.EISDIR;
        if (!src.IsRegular || !dst.IsRegular) return Errno.EINVAL;
        var dstFlags = FlagRules.Of(dst);
        if ((dstFlags & (InodeFlags.Immutable | InodeFlags.Append | InodeFlags.DaxImmutable)) != 0) return Errno.EPERM;
        // Rule 2: a DAX_IMMUTABLE file never has shared blocks (copy_file_range copies from it instead).
        if (FlagRules.IsDaxImmutable(src)) return Errno.EPERM;
        return Errno.Ok;
    }

    /// <summary>
    /// Maps file blocks [d0, d0 + count) of <paramref name="dst"/> to the blocks that back
    /// [s0, s0 + count) of <paramref name="src"/>, in windows of at most <see cref="CloneBatch"/>
    /// extents, each one transaction; the last also maps a fresh block holding
    /// <paramref name="tail"/> (if any) right after them, grows the size and sets the times.
    /// </summary>
    private void ShareWholeBlocks(Inode src, long s0, Inode dst, long d0, long count, byte[] tail, Credentials who, ref long committedBytes)
    {
        var windows = CloneWindows(src, s0, dst, d0, count);
        for (int w = 0; w < windows.Count; w++)
        {
            var (ws, we) = windows[w]; // destination file blocks
            using var tx = Txn.Begin(this);
            var pieces = new List<ExtentPiece>();
            long shift = s0 - d0;
            foreach (var e in src.Extents.Overlapping(ws + shift, we + shift))
            {
                if (e.State != DiskState.Written) continue; // unwritten: a hole reads as zeros just the same
                long ps = Math.Max(e.FileBlock, ws + shift), pe = Math.Min(e.FileEnd, we + shift);
                pieces.Add(new ExtentPiece(ps - shift, e.PhysOf(ps), pe - ps, DiskState.Written) { Shares = true });
            }
            bool last = w == windows.Count - 1;
            long editEnd = we, newSize = we * Bs;
            if (last && tail.Length > 0)
            {
                long copy = tx.AllocateBlocks(1, PhysHintAfter(pieces), 1)[0].Start;
                Media.Write(copy * Bs, tail);
                Media.Fill(copy * Bs + tail.Length, Bs - tail.Length, 0);
                Media.Flush(copy * Bs, Bs);
                pieces.Add(new ExtentPiece(we, copy, 1, DiskState.Written));
                editEnd = we + 1;
                newSize = we * Bs + tail.Length;
            }
            if (pieces.Count > 0 || dst.Extents.Overlapping(ws, editEnd).Any())
                ExtentEdit.Apply(this, tx, dst, ws, editEnd, pieces);
            var rec = dst.Rec;
            // Each window that reaches past the end of file grows it, so what is committed is visible.
            if (newSize > rec.Size)
            {
                // Bytes between the old end of file and the end of its block become the file's: zeros.
                Mapper.ZeroTailBeyondEof(dst, d0 * Bs);
                rec.Size = newSize;
            }
            if (last)
            {
                rec.MtimeNs = rec.CtimeNs = Now();
                KillPrivileges(ref rec, who);
            }
            LogInode(tx, rec);
            tx.OnCommitStore(dst, rec);
            tx.Commit();
            committedBytes = (we - d0) * Bs;
        }
    }

    private static long PhysHintAfter(List<ExtentPiece> pieces) => pieces.Count > 0 ? pieces[^1].PhysEnd : -1;

    /// <summary>Destination windows [start, end) such that each overlaps at most <see cref="CloneBatch"/> extents of both files together.</summary>
    private static List<(long Start, long End)> CloneWindows(Inode src, long s0, Inode dst, long d0, long count)
    {
        long shift = s0 - d0;
        var starts = new List<long>();
        foreach (var e in src.Extents.Overlapping(s0, s0 + count)) starts.Add(Math.Max(e.FileBlock - shift, d0));
        foreach (var e in dst.Extents.Overlapping(d0, d0 + count)) starts.Add(Math.Max(e.FileBlock, d0));
        starts.Sort();
        var windows = new List<(long, long)>();
        long ws = d0;
        for (int i = CloneBatch; i < starts.Count; i += CloneBatch)
        {
            if (starts[i] <= ws) continue;
            windows.Add((ws, starts[i]));
            ws = starts[i];
        }
        windows.Add((ws, d0 + count));
        return windows;
    }

    /// <summary>The first file block of <paramref name="inode"/> whose physical block has another owner, or null.</summary>
    internal long? FirstSharedBlock(Inode inode)
    {
        if (Sharing.RecordCount == 0) return null;
        foreach (var e in inode.Extents.All)
        {
            var records = Sharing.Overlapping(e.PhysBlock, e.Count);
            if (records.Count > 0) return e.FileBlock + (Math.Max(records[0].Start, e.PhysBlock) - e.PhysBlock);
        }
        return null;
    }
}
