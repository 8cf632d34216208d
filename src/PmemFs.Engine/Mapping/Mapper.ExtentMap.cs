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
}
