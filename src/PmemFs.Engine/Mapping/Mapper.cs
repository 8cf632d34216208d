using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Format;
using DiskState = PmemFs.Format.ExtentState;

namespace PmemFs.Engine.Mapping;

/// <summary>
/// The Mapping service (XFS's iomap, DESIGN.md "Engine shape"): maps a file range for reading
/// (the extent map a direct-access client asks for) and for writing (prepare-write: allocate
/// holes, zero and convert unwritten blocks, grow the size, one durable transaction).
/// docs/leases.md ("prepare-write and the extent map") has the rules and their tests.
/// </summary>
/// <remarks>
/// <para>
/// Today prepare-write is its only writer; write(2) and fallocate still map inside
/// Ops/FileSystem.Data.cs (their mapping and copying are interleaved), and are to move here.
/// </para>
/// <para>
/// Durability ordering of prepare-write, as the write path's:
/// <code>
/// zero new and unwritten blocks (and the old EOF block's tail) -> flush each range
///   -> log commit: drain, commit word, flush, drain      (the zeros are durable before
///   -> apply in place                                     the record that exposes them)
/// </code>
/// The commit is durable when PrepareWrite returns, so from then on the holder's stores into
/// the returned ranges plus a cache flush (and fence) are durable: nothing else is needed to
/// find them again after a power loss.
/// </para>
/// <para>Locks: the inode's lock (read for the map, write for prepare-write), then the lease
/// table's and the allocators' leaf locks, as every operation.</para>
/// </remarks>
internal sealed class Mapper(FileSystem fs)
{
    private const int Bs = FormatConstants.BlockSize;

    /// <summary>See <see cref="FileSystem.GetExtentMap"/>.</summary>
    public Errno GetExtentMap(ulong ino, long offset, long length, Span<MappedExtent> into, out int count, out long nextOffset)
    {
        count = 0;
        nextOffset = -1;
        var check = FileRange.Check(offset, length);
        if (check.Failed) return check;
        var inode = fs.InodeAt(ino);
        if (inode is null) return Errno.ESTALE;
        inode.Lock.EnterReadLock();
        try
        {
            if (inode.Freed) return Errno.ESTALE;
            if (inode.IsDirectory) return Errno.EISDIR;
            if (!inode.IsRegular) return Errno.EINVAL;
            long limit = RoundUp(inode.Rec.Size);
            long start = offset / Bs * Bs;
            long stop = RoundUp(Math.Min(offset + length, limit)); // limit is a block multiple: no overflow
            if (start >= stop) return Errno.Ok;
            if (into.IsEmpty) return Errno.EINVAL; // nothing could ever be returned: a caller's loop would not end

            var list = new ExtentList(into);
            long pos = start;
            foreach (var e in inode.Extents.Overlapping(start / Bs, stop / Bs))
            {
                long es = e.FileBlock * Bs, ee = Math.Min(e.FileEnd * Bs, stop);
                if (es > pos && !list.Add(new MappedExtent(pos, -1, es - pos, ExtentState.Hole))) break;
                pos = Math.Max(pos, es);
                var state = e.State == DiskState.Written ? ExtentState.Written : ExtentState.Unwritten;
                if (!list.Add(new MappedExtent(pos, e.PhysOf(pos / Bs) * Bs, ee - pos, state))) break;
                pos = ee;
            }
            if (!list.Full && pos < stop && list.Add(new MappedExtent(pos, -1, stop - pos, ExtentState.Hole))) pos = stop;
            count = list.Count;
            nextOffset = list.Full && list.Refused >= 0 ? list.Refused : -1;
            return Errno.Ok;
        }
        finally { inode.Lock.ExitReadLock(); }
    }

    /// <summary>Fills a caller's span; remembers where the first piece that did not fit starts.</summary>
    private ref struct ExtentList(Span<MappedExtent> into)
    {
        private readonly Span<MappedExtent> _into = into;
        public int Count;
        public long Refused = -1;
        public readonly bool Full => Refused >= 0;

        public bool Add(MappedExtent e)
        {
            if (Count == _into.Length)
            {
                Refused = e.FileOffset;
                return false;
            }
            _into[Count++] = e;
            return true;
        }
    }

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
            bool mapWork = !FullyWritten(inode, b0, b1);
            var rec = inode.Rec;
            FileSystem.KillPrivileges(ref rec, who);
            bool privileges = rec.Mode != inode.Rec.Mode;
            if (!mapWork && !extend && !privileges) return Errno.Ok;
            // Rule 7: the map of a DAX_IMMUTABLE file never changes, so a range that needs blocks,
            // conversion or a larger size cannot be prepared (rule 3's EPERM). Its metadata is
            // frozen too (rule 4): the set-id bits stay.
            if (fileFlags.HasFlag(InodeFlags.DaxImmutable)) return mapWork || extend ? Errno.EPERM : Errno.Ok;

            using var tx = new Txn(fs);
            // Bytes between the old EOF and the end of its block become part of the file: zeros.
            if (extend) fs.ZeroTailBeyondEof(inode, end);
            if (mapWork) MapForWrite(tx, inode, b0, b1);
            if (extend) rec.Size = end;
            rec.MtimeNs = rec.CtimeNs = FileSystem.Now();
            fs.LogInode(tx, rec);
            // One transaction or none (all or nothing); a range so fragmented that its records do
            // not fit the log's limit is refused whole: the caller prepares it in parts.
            if (tx.Log.EncodedLength > fs.Log.MaxTransactionBytes) return Errno.E2BIG;
            tx.OnCommit(() => inode.Rec = rec);
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

    /// <summary>
    /// Map for write: within file blocks [b0, b1), holes get new blocks and unwritten blocks are
    /// converted, both zeroed and flushed first (never drained: the commit's drain orders them
    /// before the commit word). Written blocks keep their place and their bytes; nothing outside
    /// [b0, b1) changes. Throws ENOSPC with nothing taken (the transaction gives back what it
    /// allocated; the zeros went to blocks that are free or read as zeros anyway).
    /// </summary>
    private void MapForWrite(Txn tx, Inode inode, long b0, long b1)
    {
        var pieces = new List<ExtentPiece>();
        long cursor = b0;
        long hint = FileSystem.PhysHint(inode, b0);
        foreach (var e in inode.Extents.Overlapping(b0, b1).ToList())
        {
            if (cursor < e.FileBlock) Allocate(tx, inode, cursor, e.FileBlock, pieces, ref hint);
            long ps = Math.Max(cursor, e.FileBlock), pe = Math.Min(e.FileEnd, b1);
            if (e.State == DiskState.Unwritten) Zero(e.PhysOf(ps), pe - ps);
            pieces.Add(new ExtentPiece(ps, e.PhysOf(ps), pe - ps, DiskState.Written));
            hint = e.PhysOf(pe - 1) + 1;
            cursor = pe;
        }
        if (cursor < b1) Allocate(tx, inode, cursor, b1, pieces, ref hint);
        ExtentEdit.Apply(fs, tx, inode, b0, b1, pieces);
    }

    /// <summary>New zeroed blocks for the hole [from, to), 2 MiB-aligned for DAX files where the range and space allow.</summary>
    private void Allocate(Txn tx, Inode inode, long from, long to, List<ExtentPiece> pieces, ref long hint)
    {
        foreach (var run in tx.AllocateBlocks(to - from, hint, fs.Alignment(inode, from, to - from)))
        {
            Zero(run.Start, run.Count);
            pieces.Add(new ExtentPiece(from, run.Start, run.Count, DiskState.Written));
            from += run.Count;
            hint = run.End;
        }
    }

    private void Zero(long physBlock, long blocks)
    {
        fs.Media.Fill(physBlock * Bs, blocks * Bs, 0);
        fs.Media.Flush(physBlock * Bs, blocks * Bs);
    }

    private static long RoundUp(long bytes) => (bytes + Bs - 1) / Bs * Bs;
}
