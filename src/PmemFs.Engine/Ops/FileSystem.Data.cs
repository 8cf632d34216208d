using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Engine;

public sealed partial class FileSystem
{
    private const int Bs = FormatConstants.BlockSize;
    private const uint SetUid = 0x800, GroupExec = 0x8;

    /// <summary>Extents freed per transaction by truncate and unlink (keeps transactions bounded).</summary>
    internal const int TrimBatch = 1024;

    /// <summary>
    /// Extents per fallocate window: each may gain a hole mapping and rewrite both its records
    /// (about 4 x 64 bytes of log), which must fit the smallest log's transaction limit (255 KiB).
    /// </summary>
    internal const int FallocateBatch = 256;

    /// <summary>Reads up to dst.Length bytes at <paramref name="offset"/>; holes and unwritten extents read as zeros.</summary>
    public Errno Read(ulong ino, long offset, Span<byte> dst, out int read)
    {
        read = 0;
        var errno = EnterRead(ino, offset, out var inode);
        if (errno.Failed) return errno;
        bool touch;
        BadRange? found;
        try
        {
            if (PoisonedRead(inode, offset, dst.Length, out found)) goto poisoned;
            read = ReadLocked(inode, offset, dst);
            touch = NeedsAtimeUpdate(inode);
        }
        finally { inode.Lock.ExitReadLock(); }
        if (touch) TouchAtime(inode);
        return Errno.Ok;
    poisoned:
        if (found is { } unknown) Poison.Learn(unknown, $"found by a read of inode {ino}");
        return Errno.EIO;
    }

    /// <summary>
    /// Reads without copying: <paramref name="sink"/> gets the pieces of the range in file order,
    /// each an address inside the media mapping or zeros (<see cref="DataSegment.IsZeros"/>: hole,
    /// unwritten, or past an extent), and must use them before it returns: the inode's read
    /// lock is held meanwhile, so no truncate or punch can free those blocks under the reader.
    /// </summary>
    public Errno ReadMapped<TState>(ulong ino, long offset, int size, TState state, MappedReadSink<TState> sink)
    {
        if (size < 0) return Errno.EINVAL;
        var errno = EnterRead(ino, offset, out var inode);
        if (errno.Failed) return errno;
        bool touch;
        BadRange? found;
        try
        {
            if (PoisonedRead(inode, offset, size, out found)) goto poisoned;
            var segments = new SegmentList(stackalloc DataSegment[32]);
            CollectSegments(inode, offset, size, ref segments);
            sink(segments.Items, state);
            touch = NeedsAtimeUpdate(inode); // as filemap_read: a read at EOF is an access too
        }
        finally { inode.Lock.ExitReadLock(); }
        if (touch) TouchAtime(inode);
        return Errno.Ok;
    poisoned:
        if (found is { } unknown) Poison.Learn(unknown, $"found by a read of inode {ino}");
        return Errno.EIO;
    }

    /// <summary>
    /// Whether the read of [offset, +size) (clipped to EOF) would load poisoned bytes: then it
    /// fails whole with EIO, as a DAX read that starts on poison does (the kernel asks again
    /// page by page, so only the pages holding poison fail), and the event names file and
    /// offset. <paramref name="unknown"/>: poison the media knew and the map did not (to learn
    /// once the lock is dropped).
    /// </summary>
    private bool PoisonedRead(Inode inode, long offset, int size, out BadRange? unknown)
    {
        unknown = null;
        long n = Math.Min(size, inode.Rec.Size - offset);
        if (n <= 0) return false;
        long at = Poison.FirstPoisonedByte(inode, offset, n, out unknown);
        if (at < 0) return false;
        Health.Record(Engine.Health.HealthEventKind.PoisonTouched, inode.Ino, at, 0, $"read of inode {inode.Ino} at [{offset}, +{n}) hit poison at file offset {at}: EIO");
        return true;
    }

    /// <summary>Takes the read lock of a live regular file for a read at <paramref name="offset"/> (the caller releases it).</summary>
    private Errno EnterRead(ulong ino, long offset, out Inode inode)
    {
        inode = null!;
        if (offset < 0) return Errno.EINVAL;
        var found = InodeAt(ino);
        if (found is null) return Errno.ESTALE;
        if (Health.SickAnswer(ino) is { Failed: true } sick) return sick;
        found.Lock.EnterReadLock();
        if (found.Freed || found.IsDirectory)
        {
            found.Lock.ExitReadLock();
            return found.Freed ? Errno.ESTALE : Errno.EISDIR;
        }
        inode = found;
        return Errno.Ok;
    }

    internal unsafe int ReadLocked(Inode inode, long offset, Span<byte> dst)
    {
        var segments = new SegmentList(stackalloc DataSegment[32]);
        int n = CollectSegments(inode, offset, dst.Length, ref segments);
        int at = 0;
        foreach (var seg in segments.Items)
        {
            var part = dst.Slice(at, seg.Length);
            if (seg.IsZeros) part.Clear();
            else new ReadOnlySpan<byte>((void*)seg.Address, seg.Length).CopyTo(part);
            at += seg.Length;
        }
        return n;
    }

    /// <summary>
    /// The one walk of a file's block map for reads: the pieces of [offset, offset + size)
    /// clipped to EOF, in order, as addresses in the mapping or zeros. Returns the byte count.
    /// </summary>
    private unsafe int CollectSegments(Inode inode, long offset, int size, ref SegmentList segments)
    {
        long fileSize = inode.Rec.Size;
        int n = offset >= fileSize ? 0 : (int)Math.Min(size, fileSize - offset);
        if (n == 0) return 0;
        long pos = offset, end = offset + n;
        foreach (var e in inode.Extents.Overlapping(pos / Bs, (end + Bs - 1) / Bs))
        {
            long es = e.FileBlock * Bs, ee = e.FileEnd * Bs;
            if (es > pos) segments.Add(new DataSegment(0, (int)(Math.Min(es, end) - pos)));
            pos = Math.Max(pos, es);
            long stop = Math.Min(ee, end);
            nint address = e.State == ExtentState.Written ? (nint)Media.PointerAt(e.PhysBlock * (long)Bs + (pos - es)) : 0;
            segments.Add(new DataSegment(address, (int)(stop - pos)));
            pos = stop;
        }
        if (pos < end) segments.Add(new DataSegment(0, (int)(end - pos)));
        return n;
    }

    /// <summary>A growable list of read pieces, on the stack until it outgrows its first buffer; adjacent zeros merge.</summary>
    private ref struct SegmentList(Span<DataSegment> initial)
    {
        private Span<DataSegment> _items = initial;
        private int _count;

        public readonly ReadOnlySpan<DataSegment> Items => _items[.._count];

        public void Add(DataSegment seg)
        {
            if (_count > 0 && seg.IsZeros && _items[_count - 1].IsZeros)
            {
                _items[_count - 1] = new DataSegment(0, _items[_count - 1].Length + seg.Length);
                return;
            }
            if (_count == _items.Length)
            {
                var bigger = new DataSegment[_items.Length * 4];
                _items.CopyTo(bigger);
                _items = bigger;
            }
            _items[_count++] = seg;
        }
    }

    /// <summary>
    /// pwrite: data is persistent before the metadata that exposes it is committed, and both
    /// before this returns. New blocks are fully written (data plus zeros) before they become
    /// visible. All or nothing on ENOSPC.
    /// </summary>
    /// <remarks>
    /// Not a layout change for leases (docs/leases.md): a write stores into blocks in place,
    /// and the blocks it allocates for holes or converts from unwritten keep every physical
    /// address a lease holder was given. Nothing is freed or moved, so nothing is recalled
    /// (XFS breaks layouts on write because its writes may remap shared blocks; when PmemFs
    /// gets sharing, the copy-on-write of a leased range must break them).
    /// </remarks>
    public Errno Write(ulong ino, long offset, ReadOnlySpan<byte> data, Credentials who, out int written, WriteOrigin origin = WriteOrigin.Syscall) =>
        WriteEntry(ino, offset, data, who, origin, whatFits: false, out written);

    /// <summary>
    /// write(2) as on a full kernel file system: like <see cref="Write"/> (same checks, same
    /// flag rules, same durability), but a write whose new blocks do not all fit writes the
    /// longest prefix that does, ending on a block boundary, and returns Ok with
    /// <paramref name="written"/> &lt; data.Length; ENOSPC only when nothing fits at all.
    /// Every attempt is one all-or-nothing transaction, all under one hold of the inode's
    /// write lock, so no other writer of the file comes in between.
    /// </summary>
    public Errno WriteWhatFits(ulong ino, long offset, ReadOnlySpan<byte> data, Credentials who, out int written, WriteOrigin origin = WriteOrigin.Syscall) =>
        WriteEntry(ino, offset, data, who, origin, whatFits: true, out written);

    private Errno WriteEntry(ulong ino, long offset, ReadOnlySpan<byte> data, Credentials who, WriteOrigin origin, bool whatFits, out int written)
    {
        written = 0;
        if (offset < 0) return Errno.EINVAL;
        if (offset > FormatConstants.MaxFileSize - data.Length) return Errno.EFBIG;
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterWriteLock();
            try
            {
                CheckWritableFile(inode);
                FlagRules.CheckWrite(inode, offset, origin);
                if (data.Length == 0) return Errno.Ok;
                // The in-place store allocates nothing, so it is never short.
                if (FlagRules.IsDaxImmutable(inode)) StoreInPlaceLocked(inode, offset, data);
                else if (whatFits)
                {
                    written = WriteWhatFitsLocked(inode, offset, data, who);
                    return Errno.Ok;
                }
                else WriteLocked(inode, offset, data, who);
                written = data.Length;
                return Errno.Ok;
            }
            finally { inode.Lock.ExitWriteLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
        catch (MediaPoisonException p)
        {
            // Copy on write or an edge copy loaded a bad line the map did not know (nothing committed).
            Poison.Learn(p.Range, $"found by a write to inode {ino}");
            return Errno.EIO;
        }
    }

    /// <summary>
    /// Writes the longest prefix of <paramref name="data"/> that fits and returns its length
    /// (throws ENOSPC when none does). The first attempt is the prefix the free blocks hold
    /// (<see cref="FittingLength"/>: all of it unless space is short); should that still fail
    /// (extent or rmap slots run out, or another file took the blocks meanwhile), it halves,
    /// each time ending on a block boundary, down to the part of the first block. A failed
    /// attempt's transaction gives back all it allocated, so nothing is ever half written.
    /// </summary>
    private int WriteWhatFitsLocked(Inode inode, long offset, ReadOnlySpan<byte> data, Credentials who)
    {
        int firstBlockPart = (int)Math.Min(data.Length, Bs - offset % Bs);
        long take = FittingLength(inode, offset, data.Length);
        while (take > 0)
        {
            try
            {
                WriteLocked(inode, offset, data[..(int)take], who);
                return (int)take;
            }
            catch (ErrnoException e) when (e.Errno == Errno.ENOSPC)
            {
                // Less of the first block needs just what all of it needs.
                if (take <= firstBlockPart) break;
                long stop = (offset + take / 2) / Bs * Bs;
                take = stop > offset ? stop - offset : firstBlockPart;
            }
        }
        throw new ErrnoException(Errno.ENOSPC);
    }

    /// <summary>
    /// How much of a write of <paramref name="length"/> bytes at <paramref name="offset"/> the
    /// free blocks hold: all of it when its holes fit (mapped blocks, written or unwritten, cost
    /// nothing), else up to the first hole block that does not fit (a block boundary; 0 when
    /// that is the first block).
    /// </summary>
    private long FittingLength(Inode inode, long offset, long length)
    {
        long end = offset + length;
        long b0 = offset / Bs, b1 = (end + Bs - 1) / Bs;
        long free = Blocks.FreeBlocks;
        if (b1 - b0 <= free) return length;
        long cursor = b0;
        foreach (var e in inode.Extents.Overlapping(b0, b1))
        {
            if (e.FileBlock > cursor)
            {
                long hole = e.FileBlock - cursor;
                if (hole > free) return Math.Max(0, (cursor + free) * Bs - offset);
                free -= hole;
            }
            cursor = Math.Max(cursor, e.FileEnd);
        }
        if (b1 - cursor > free) return Math.Max(0, (cursor + free) * Bs - offset);
        return length;
    }

    /// <summary>
    /// Writeback of a shared mapping of a DAX_IMMUTABLE file (rule 5): stored in place into
    /// its written blocks, within EOF, with no metadata change and no timestamp update (rules 3
    /// and 4); durable before the reply like any write.
    /// </summary>
    private void StoreInPlaceLocked(Inode inode, long offset, ReadOnlySpan<byte> data)
    {
        long end = offset + data.Length;
        if (end > inode.Rec.Size) throw new ErrnoException(Errno.EPERM);
        Health.ThrowIfWritesRefused();
        Poison.BeforeStore(inode, offset, end);
        Mapper.StoreInPlace(inode, offset / Bs, (end + Bs - 1) / Bs, new WriteData(Media, offset, data));
        Media.Drain();
    }

    private static void CheckWritableFile(Inode inode)
    {
        if (inode.Freed) throw new ErrnoException(Errno.ESTALE);
        if (inode.IsDirectory) throw new ErrnoException(Errno.EISDIR);
        if (!inode.IsRegular) throw new ErrnoException(Errno.EINVAL);
    }

    private void WriteLocked(Inode inode, long offset, ReadOnlySpan<byte> data, Credentials who)
    {
        long end = offset + data.Length;
        // Copy on write moves the range to new blocks: a layout change for lease holders.
        if (Mapper.AnyShared(inode, offset / Bs, (end + Bs - 1) / Bs))
        {
            var broken = Leases.BreakLayouts(inode.Ino, FileRange.Between(offset / Bs * Bs, (end + Bs - 1) / Bs * Bs), 0);
            if (!broken.MayProceed) throw new ErrnoException(broken.Errno);
        }
        Health.ThrowIfWritesRefused();
        Poison.BeforeStore(inode, Math.Min(offset, inode.Rec.Size), end);
        using var tx = Txn.Begin(this);
        Mapper.ZeroTailBeyondEof(inode, offset);
        Mapper.MapForWrite(tx, inode, offset / Bs, (end + Bs - 1) / Bs, new WriteData(Media, offset, data));
        var rec = inode.Rec;
        rec.Size = Math.Max(rec.Size, end);
        rec.MtimeNs = rec.CtimeNs = Now();
        KillPrivileges(ref rec, who);
        LogInode(tx, rec);
        tx.OnCommitStore(inode, rec);
        tx.Commit(); // the commit's drain also orders the data flushes above before the commit word
    }

    /// <summary>
    /// write(2)'s bytes, for <see cref="Mapper.MapForWrite"/> to place: parts of 16 KiB or more
    /// go non-temporal (no read-for-ownership of lines that are overwritten whole anyway).
    /// </summary>
    private readonly ref struct WriteData(IMedia media, long offset, ReadOnlySpan<byte> data) : Mapping.IWriteSource
    {
        private readonly ReadOnlySpan<byte> _data = data;

        public long Start => offset;
        public long End => offset + _data.Length;

        public void CopyTo(long mediaOffset, long fileOffset, int length)
        {
            var part = _data.Slice((int)(fileOffset - offset), length);
            if (part.Length >= 16 * 1024) media.WriteNonTemporal(mediaOffset, part);
            else media.Write(mediaOffset, part);
        }
    }

    /// <summary>Writes, truncates and fallocate by anyone but root clear set-user-ID and set-group-ID (with group exec).</summary>
    internal static void KillPrivileges(ref InodeRecord rec, Credentials who)
    {
        if (who.IsRoot) return;
        if ((rec.Mode & SetUid) != 0) rec.Mode &= ~SetUid;
        if ((rec.Mode & (SetGid | GroupExec)) == (SetGid | GroupExec)) rec.Mode &= ~SetGid;
    }

    /// <summary>Changes the size; shrinking frees blocks beyond it (in several transactions if there are many).</summary>
    internal void TruncateLocked(Inode inode, long newSize, Credentials who, Txn tx, ref InodeRecord rec)
    {
        if (newSize > FormatConstants.MaxFileSize) throw new ErrnoException(Errno.EFBIG);
        long now = Now();
        rec.MtimeNs = rec.CtimeNs = now;
        KillPrivileges(ref rec, who);
        if (newSize >= rec.Size)
        {
            Mapper.ZeroTailBeyondEof(inode, newSize);
            rec.Size = newSize;
            return;
        }
        rec.Size = newSize;
        long keep = (newSize + Bs - 1) / Bs;
        var map = inode.Extents;
        int beyond = map.Count - map.FirstEndingAfter(keep);
        // The block that now holds the end of file gets its own copy if it is shared: the bytes past
        // the new end are zeroed in place when the file grows again, which the other owners must not see.
        var eofCopy = UnshareEndOfFileBlock(tx, inode, newSize);
        if (beyond == 0 || beyond > TrimBatch)
        {
            if (eofCopy is { } only) ExtentEdit.Apply(this, tx, inode, only.FileBlock, only.FileEnd, [only]);
            // Too many for one transaction: record the intent; the caller finishes with TrimLocked.
            if (beyond > TrimBatch) rec.PendingTrim = keep + 1;
            return;
        }
        long from = eofCopy?.FileBlock ?? keep;
        ExtentEdit.Apply(this, tx, inode, from, map.Last!.FileEnd, eofCopy is { } copy ? [copy] : []);
    }

    /// <summary>
    /// When <paramref name="newSize"/> ends inside a written block that other files share: a
    /// fresh copy of that block with the bytes past the end zeroed (flushed; the caller's edit
    /// maps it), else null.
    /// </summary>
    private ExtentPiece? UnshareEndOfFileBlock(Txn tx, Inode inode, long newSize)
    {
        if (newSize % Bs == 0) return null;
        long block = newSize / Bs;
        var e = inode.Extents.Find(block);
        if (e is null || e.State != ExtentState.Written || !tx.Sharing.AnyShared(e.PhysOf(block), 1)) return null;
        long old = e.PhysOf(block);
        long copy = tx.AllocateBlocks(1, old + 1, 1)[0].Start;
        int keepBytes = (int)(newSize % Bs);
        Media.Write(copy * Bs, Media.Read(old * Bs, keepBytes));
        Media.Fill(copy * Bs + keepBytes, Bs - keepBytes, 0);
        Media.Flush(copy * Bs, Bs);
        return new ExtentPiece(block, copy, 1, ExtentState.Written);
    }

    /// <summary>Frees every extent at or after <paramref name="fromBlock"/>, a batch per transaction, then clears the intent.</summary>
    internal void TrimLocked(Inode inode, long fromBlock)
    {
        while (true)
        {
            var map = inode.Extents;
            int remaining = map.Count - map.FirstEndingAfter(fromBlock);
            using var tx = Txn.Begin(this);
            bool last = remaining <= TrimBatch;
            if (remaining > 0)
            {
                int take = Math.Min(remaining, TrimBatch);
                long start = Math.Max(fromBlock, map.All[map.Count - take].FileBlock);
                ExtentEdit.Apply(this, tx, inode, start, map.Last!.FileEnd, []);
            }
            if (last && inode.Rec.PendingTrim != 0)
            {
                var rec = inode.Rec;
                rec.PendingTrim = 0;
                LogInode(tx, rec);
                tx.OnCommitStore(inode, rec);
            }
            tx.Commit();
            if (last) return;
        }
    }

    /// <summary>
    /// fallocate: preallocate (0, KEEP_SIZE), PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE. Every mode is a
    /// layout change: leases of other handles over the whole blocks it touches (a partial edge
    /// block is replaced by a copy) are broken first (ETXTBSY when pinned,
    /// <see cref="Errno.RetryAfterRecall"/> while recalled). <paramref name="handle"/> is the
    /// request's open handle (FUSE's fh); that handle's own leases are not recalled.
    /// </summary>
    public Errno Fallocate(ulong ino, FallocateMode mode, long offset, long length, Credentials who, ulong handle = 0)
    {
        if (offset < 0 || length <= 0) return Errno.EINVAL;
        if (offset > FormatConstants.MaxFileSize - length) return Errno.EFBIG;
        bool keepSize = mode.HasFlag(FallocateMode.KeepSize);
        var op = mode & ~FallocateMode.KeepSize;
        if (op is not (FallocateMode.Default or FallocateMode.PunchHole or FallocateMode.ZeroRange)) return Errno.EOPNOTSUPP;
        if (op == FallocateMode.PunchHole && !keepSize) return Errno.EOPNOTSUPP;
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterWriteLock();
            try
            {
                if (inode.Freed) return Errno.ESTALE;
                if (inode.IsDirectory) return Errno.EISDIR;
                if (!inode.IsRegular) return Errno.ENODEV;
                FlagRules.CheckFallocate(inode, mode);
                long end = offset + length;
                var broken = Leases.BreakLayouts(ino, FallocateRange(inode.Rec.Size, offset, end, keepSize), handle);
                if (!broken.MayProceed) return broken.Errno;
                // Punching or zeroing poisoned blocks whole clears their poison (after the commit).
                var poisoned = op == FallocateMode.Default ? [] : Poison.PoisonedBlocks(inode, (offset + Bs - 1) / Bs, end / Bs);
                // Whole blocks go in windows of at most FallocateBatch extents so every transaction
                // stays bounded; all windows but the last commit on their own, so a huge fragmented
                // range is not one atomic step. A range that fits one window (almost all) is: its
                // partial edge blocks are copied, zeroed and swapped in by the same transaction.
                // Only a multi-window punch or zero range zeroes its edges in place first.
                long w0 = offset / Bs, w1 = (end + Bs - 1) / Bs;
                // (On a nearly full file system a punch must still free space: edges in place then.)
                bool oneStep = op != FallocateMode.Default && SplitIntoWindows(inode, w0, w1).Count <= 1 && Blocks.FreeBlocks > 16;
                if (op != FallocateMode.Default && !oneStep) (w0, w1) = ZeroPartialEdges(inode, offset, end);
                var windows = oneStep ? [] : SplitIntoWindows(inode, w0, w1);
                for (int i = 0; i < windows.Count - 1; i++)
                {
                    using var part = Txn.Begin(this);
                    FallocateWindow(part, inode, op, windows[i]);
                    part.Commit();
                }
                using var tx = Txn.Begin(this);
                // Bytes past the old EOF in its block (left by a truncate) must be zeros before an
                // edge copy of that block is taken: the copy is what the file will show.
                if (oneStep && !keepSize && end > inode.Rec.Size) Mapper.ZeroTailBeyondEof(inode, end);
                if (oneStep) Mapper.ZeroOrPunchInOneStep(tx, inode, op == FallocateMode.PunchHole, offset, end);
                else if (windows.Count > 0) FallocateWindow(tx, inode, op, windows[^1]);
                var rec = inode.Rec;
                if (!keepSize && end > rec.Size)
                {
                    // Nothing is written here: all of [old size, end) must read as zeros.
                    Mapper.ZeroTailBeyondEof(inode, end);
                    rec.Size = end;
                }
                rec.MtimeNs = rec.CtimeNs = Now();
                KillPrivileges(ref rec, who);
                LogInode(tx, rec);
                tx.OnCommitStore(inode, rec);
                tx.Commit();
                // Done already: where the media cannot clear, the poison stays known (and withheld).
                foreach (var (phys, count) in poisoned)
                    Poison.TryClear(phys * Bs, count * Bs, op == FallocateMode.PunchHole ? $"punched from inode {ino}" : $"zeroed in inode {ino}");
                return Errno.Ok;
            }
            finally { inode.Lock.ExitWriteLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
        catch (MediaPoisonException p)
        {
            Poison.Learn(p.Range, $"found by fallocate of inode {ino}");
            return Errno.EIO;
        }
    }

    /// <summary>
    /// The bytes whose layout a fallocate of [offset, end) touches: its blocks, whole (edge blocks
    /// of a punch or zero range are swapped for copies), and, when it grows the file, everything
    /// from the old size (that becomes a hole within EOF, the old last block's tail is zeroed).
    /// </summary>
    private static FileRange FallocateRange(long size, long offset, long end, bool keepSize)
    {
        long start = offset / Bs * Bs;
        if (!keepSize && end > size) start = Math.Min(start, size);
        return FileRange.Between(start, (end + Bs - 1) / Bs * Bs);
    }

    private void FallocateWindow(Txn tx, Inode inode, FallocateMode op, (long Start, long End) w)
    {
        switch (op)
        {
            case FallocateMode.Default: Mapper.Preallocate(tx, inode, w.Start, w.End); break;
            case FallocateMode.PunchHole: Mapper.Punch(tx, inode, w.Start, w.End); break;
            default: Mapper.ZeroRange(tx, inode, w.Start, w.End); break;
        }
    }

    /// <summary>Cuts file blocks [start, end) into windows that each overlap at most FallocateBatch extents.</summary>
    private static List<(long Start, long End)> SplitIntoWindows(Inode inode, long start, long end)
    {
        var windows = new List<(long, long)>();
        if (start >= end) return windows;
        int n = 0;
        long ws = start;
        foreach (var e in inode.Extents.Overlapping(start, end))
        {
            if (++n <= FallocateBatch) continue;
            long cut = Math.Max(e.FileBlock, ws + 1);
            windows.Add((ws, cut));
            ws = cut;
            n = 1;
        }
        windows.Add((ws, end));
        return windows;
    }

    /// <summary>Zeroes the bytes of [offset, end) in blocks it covers only partly; returns the whole blocks.</summary>
    private (long Full0, long Full1) ZeroPartialEdges(Inode inode, long offset, long end)
    {
        long full0 = (offset + Bs - 1) / Bs, full1 = end / Bs;
        if (full0 > full1) // inside one block
        {
            ZeroInPlace(inode, offset, end);
            return (0, 0);
        }
        if (offset % Bs != 0) ZeroInPlace(inode, offset, full0 * Bs);
        if (end % Bs != 0 && full1 * Bs >= offset) ZeroInPlace(inode, Math.Max(full1 * Bs, offset), end);
        return (full0, full1);
    }

    private void ZeroInPlace(Inode inode, long start, long end)
    {
        var e = inode.Extents.Find(start / Bs);
        if (e is null || e.State != ExtentState.Written || end <= start) return;
        if (Mapper.AnyShared(inode, start / Bs, start / Bs + 1))
        {
            // A shared edge block gets its own copy, zeroed there, in a transaction of its own.
            using var tx = Txn.Begin(this);
            Mapper.ZeroOrPunchInOneStep(tx, inode, punch: false, start, end);
            tx.Commit();
            return;
        }
        long at = e.PhysOf(start / Bs) * Bs + start % Bs;
        Media.Fill(at, end - start, 0);
        Media.Flush(at, end - start);
    }

    /// <summary>SEEK_DATA / SEEK_HOLE. Unwritten extents count as holes (they read as zeros).</summary>
    public Errno Seek(ulong ino, long offset, SeekWhence whence, out long result)
    {
        result = -1;
        if (offset < 0) return Errno.ENXIO;
        var inode = InodeAt(ino);
        if (inode is null) return Errno.ESTALE;
        if (Health.SickAnswer(ino) is { Failed: true } sick) return sick;
        inode.Lock.EnterReadLock();
        try
        {
            long size = inode.Rec.Size;
            if (offset >= size) return Errno.ENXIO;
            long block = offset / Bs;
            if (whence == SeekWhence.Data)
            {
                foreach (var e in inode.Extents.Overlapping(block, long.MaxValue))
                {
                    if (e.State != ExtentState.Written) continue;
                    long at = Math.Max(offset, e.FileBlock * Bs);
                    if (at >= size) break;
                    result = at;
                    return Errno.Ok;
                }
                return Errno.ENXIO;
            }
            long pos = offset;
            foreach (var e in inode.Extents.Overlapping(block, long.MaxValue))
            {
                if (e.FileBlock * Bs > pos || e.State != ExtentState.Written) break;
                pos = e.FileEnd * Bs;
            }
            result = Math.Min(pos, size);
            return Errno.Ok;
        }
        finally { inode.Lock.ExitReadLock(); }
    }

    /// <summary>A new symlink's target is its data: one block, written before the transaction commits.</summary>
    private void WriteSymlinkTarget(Txn tx, Inode child, byte[] target)
    {
        Mapper.MapForWrite(tx, child, 0, 1, new WriteData(Media, 0, target));
        child.Rec.Size = target.Length;
        LogInode(tx, child.Rec);
    }
}
