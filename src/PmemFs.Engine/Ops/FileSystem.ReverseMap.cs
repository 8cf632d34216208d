using PmemFs.Format;

namespace PmemFs.Engine;

/// <summary>
/// What a row of <see cref="FileSystem.ReverseMap"/> describes. The numbers are the on-media
/// owner kinds (<see cref="RmapOwnerKind"/>) and PMEMFS_RMAP_* of pmemfs.h; <see cref="Refcount"/>
/// is not an owner but a reference-count record (a range two or more data extents map).
/// </summary>
public enum ReverseMapKind
{
    Data = RmapOwnerKind.InodeData,
    Xattr = RmapOwnerKind.InodeXattr,
    Superblock = RmapOwnerKind.Superblock,
    Journal = RmapOwnerKind.Journal,
    Bitmap = RmapOwnerKind.Bitmap,
    InodeTable = RmapOwnerKind.InodeTable,
    DirentTable = RmapOwnerKind.DirentTable,
    ExtentTable = RmapOwnerKind.ExtentTable,
    RmapTable = RmapOwnerKind.RmapTable,
    /// <summary>Not an owner kind on the media (an "RC" record, not an "RM" one).</summary>
    Refcount = 32,
}

/// <summary>
/// One row of the reverse map, in bytes. <see cref="Ino"/> and <see cref="FileOffset"/> are 0
/// for metadata and reference-count rows. <see cref="Refs"/>: for data, the highest reference
/// count over the extent's blocks when they are shared (0 when not); for a reference-count row,
/// its count. <see cref="Unwritten"/>: data allocated but never written (preallocation).
/// </summary>
public readonly record struct ReverseMapOwner(long Physical, long Length, ReverseMapKind Kind, ulong Ino, long FileOffset, ulong Refs, bool Unwritten)
{
    public ReverseMapCursor Key => new(Physical, Kind, Ino, FileOffset);
}

/// <summary>
/// Where a reverse-map listing goes on: rows are ordered by (physical, kind, inode, file offset),
/// a key no two rows share (several extents may start at one shared block, but not with the same
/// inode and file offset), so "every row after this key" is exact. <c>default</c> is before every row.
/// </summary>
public readonly record struct ReverseMapCursor(long Physical, ReverseMapKind Kind, ulong Ino, long FileOffset) : IComparable<ReverseMapCursor>
{
    public int CompareTo(ReverseMapCursor other)
    {
        int c = Physical.CompareTo(other.Physical);
        if (c == 0) c = ((int)Kind).CompareTo((int)other.Kind);
        if (c == 0) c = Ino.CompareTo(other.Ino);
        if (c == 0) c = FileOffset.CompareTo(other.FileOffset);
        return c;
    }

    public static bool operator <(ReverseMapCursor a, ReverseMapCursor b) => a.CompareTo(b) < 0;
    public static bool operator >(ReverseMapCursor a, ReverseMapCursor b) => a.CompareTo(b) > 0;
    public static bool operator <=(ReverseMapCursor a, ReverseMapCursor b) => a.CompareTo(b) <= 0;
    public static bool operator >=(ReverseMapCursor a, ReverseMapCursor b) => a.CompareTo(b) >= 0;
}

public sealed partial class FileSystem
{
    /// <summary>
    /// Who owns the region's bytes [<paramref name="start"/>, +<paramref name="length"/>): every
    /// metadata area, every inode's data extents (with the reference count when shared), every
    /// xattr blob, and the reference-count records, each row whole if it overlaps the range,
    /// in the order of <see cref="ReverseMapCursor"/>, starting after <paramref name="after"/>.
    /// Built from the in-memory maps: each inode's map is read under its read lock, one inode
    /// at a time (never two locks at once), so a row is a consistent extent of that moment; rows
    /// of different inodes may be from different moments while files change.
    /// </summary>
    /// <param name="length">Bytes; a range past <see cref="long.MaxValue"/> is cut there.</param>
    /// <param name="into">Up to its length rows are stored.</param>
    /// <param name="count">Rows stored.</param>
    /// <param name="more">Whether rows follow the last one stored (continue with its <see cref="ReverseMapOwner.Key"/>).</param>
    /// <returns>Ok; EINVAL for a negative start, a length &lt;= 0 or an empty <paramref name="into"/>.</returns>
    public Errno ReverseMap(long start, long length, ReverseMapCursor after, Span<ReverseMapOwner> into, out int count, out bool more)
    {
        count = 0;
        more = false;
        if (start < 0 || length <= 0 || into.IsEmpty) return Errno.EINVAL;
        long end = length > long.MaxValue - start ? long.MaxValue : start + length;
        long bs = FormatConstants.BlockSize;
        // The smallest rows after the cursor, at most into.Length + 1 of them (the extra one says "more"),
        // in a max-heap: one pass over every map, O(rows log page) per page.
        int keep = into.Length + 1;
        var heap = new PriorityQueue<ReverseMapOwner, ReverseMapCursor>(keep + 1, Comparer<ReverseMapCursor>.Create((a, b) => b.CompareTo(a)));
        void Offer(in ReverseMapOwner row)
        {
            if (row.Physical >= end || row.Physical + row.Length <= start || row.Key <= after) return;
            if (heap.Count == keep)
            {
                if (row.Key >= PeekKey(heap)) return;
                heap.Dequeue();
            }
            heap.Enqueue(row, row.Key);
        }

        foreach (var (kind, first, blocks) in Geometry.MetadataAreas())
            Offer(new ReverseMapOwner(first * bs, blocks * bs, (ReverseMapKind)kind, 0, 0, 0, false));
        foreach (var r in Sharing.All)
            Offer(new ReverseMapOwner(r.Start * bs, r.Count * bs, ReverseMapKind.Refcount, 0, 0, r.Refs, false));
        for (long slot = 0; slot < _inodes.Length; slot++)
        {
            var inode = Volatile.Read(ref _inodes[slot]);
            if (inode is null) continue;
            inode.Lock.EnterReadLock();
            try
            {
                if (inode.Freed) continue;
                foreach (var e in inode.Extents.All)
                {
                    if (e.PhysBlock * bs >= end || e.PhysEnd * bs <= start) continue;
                    ulong refs = 0;
                    if (e.State == ExtentState.Written)
                        foreach (var s in Sharing.Overlapping(e.PhysBlock, e.Count)) refs = Math.Max(refs, s.Refs);
                    Offer(new ReverseMapOwner(e.PhysBlock * bs, e.Count * bs, ReverseMapKind.Data, inode.Ino, e.FileBlock * bs, refs, e.State == ExtentState.Unwritten));
                }
                if (inode.Rec.XattrBlocks > 0)
                    Offer(new ReverseMapOwner(inode.Rec.XattrBlock * bs, inode.Rec.XattrBlocks * bs, ReverseMapKind.Xattr, inode.Ino, 0, 0, false));
            }
            finally { inode.Lock.ExitReadLock(); }
        }

        if (heap.Count == keep)
        {
            heap.Dequeue();
            more = true;
        }
        count = heap.Count;
        for (int i = count - 1; i >= 0; i--) into[i] = heap.Dequeue();
        return Errno.Ok;
    }

    private static ReverseMapCursor PeekKey(PriorityQueue<ReverseMapOwner, ReverseMapCursor> heap) =>
        heap.TryPeek(out _, out var key) ? key : default;
}
