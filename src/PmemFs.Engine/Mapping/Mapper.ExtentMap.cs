using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using DiskState = PmemFs.Format.ExtentState;

namespace PmemFs.Engine.Mapping;

// Map for read, as a direct-access client sees it: docs/leases.md, "The extent map".
internal sealed partial class Mapper
{
    /// <summary>See <see cref="FileSystem.GetExtentMap"/>.</summary>
    public Errno GetExtentMap(ulong ino, long offset, long length, Span<MappedExtent> into, out int count, out long nextOffset)
    {
        count = 0;
        nextOffset = -1;
        var check = FileRange.Check(offset, length);
        if (check.Failed) return check;
        var inode = fs.InodeAt(ino);
        if (inode is null) return Errno.ESTALE;
        if (fs.Health.SickAnswer(ino) is { Failed: true } sick) return sick;
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
                if (e.State != DiskState.Written)
                {
                    if (!list.Add(new MappedExtent(pos, e.PhysOf(pos / Bs) * Bs, ee - pos, ExtentState.Unwritten))) break;
                    pos = ee;
                    continue;
                }
                // Written blocks, cut where other files share them (stores there need prepare-write: it copies).
                bool full = false;
                foreach (var (rs, re, shared) in SharedParts(e.PhysOf(pos / Bs), (ee - pos) / Bs))
                {
                    var kind = shared ? ExtentState.Shared : ExtentState.Written;
                    foreach (var (ps, pe, poisoned) in PoisonedParts(rs, re))
                    {
                        long fs0 = pos + (ps - e.PhysOf(pos / Bs)) * Bs;
                        if (!list.Add(new MappedExtent(fs0, ps * Bs, (pe - ps) * Bs, poisoned ? ExtentState.Poisoned : kind))) { full = true; break; }
                    }
                    if (full) break;
                }
                if (full) break;
                pos = ee;
            }
            if (!list.Full && pos < stop && list.Add(new MappedExtent(pos, -1, stop - pos, ExtentState.Hole))) pos = stop;
            count = list.Count;
            nextOffset = list.Full && list.Refused >= 0 ? list.Refused : -1;
            return Errno.Ok;
        }
        finally { inode.Lock.ExitReadLock(); }
    }

    /// <summary>Physical blocks [phys, +count) cut into runs that other extents share or not (a lock-free snapshot: for reporting).</summary>
    internal List<(long Start, long End, bool Shared)> SharedParts(long phys, long count)
    {
        var parts = new List<(long, long, bool)>();
        long cursor = phys, end = phys + count;
        foreach (var r in fs.Sharing.Overlapping(phys, count))
        {
            long s = Math.Max(r.Start, phys), e = Math.Min(r.End, end);
            if (s > cursor) parts.Add((cursor, s, false));
            parts.Add((s, e, true));
            cursor = e;
        }
        if (cursor < end) parts.Add((cursor, end, false));
        return parts;
    }

    /// <summary>Physical blocks [start, end) cut into runs that hold known poison or not (whole blocks).</summary>
    private List<(long Start, long End, bool Poisoned)> PoisonedParts(long start, long end)
    {
        var parts = new List<(long, long, bool)>();
        long cursor = start;
        foreach (var r in fs.Poison.Map.All)
        {
            long s = Math.Max(start, r.Offset / Bs), e = Math.Min(end, (r.End + Bs - 1) / Bs);
            if (s >= e) continue;
            if (s > cursor) parts.Add((cursor, s, false));
            s = Math.Max(s, cursor);
            if (e > s) parts.Add((s, e, true));
            cursor = Math.Max(cursor, e);
        }
        if (cursor < end) parts.Add((cursor, end, false));
        return parts;
    }

    /// <summary>Whether any written block of file blocks [b0, b1) is shared with another extent (lock-free: "no" is exact for the lock holder).</summary>
    internal bool AnyShared(Inode inode, long b0, long b1)
    {
        if (fs.Sharing.RecordCount == 0) return false;
        foreach (var e in inode.Extents.Overlapping(b0, b1))
        {
            long ps = Math.Max(b0, e.FileBlock), pe = Math.Min(b1, e.FileEnd);
            if (fs.Sharing.AnyOverlap(e.PhysOf(ps), pe - ps)) return true;
        }
        return false;
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
}
