namespace PmemFs.Format;

/// <summary>
/// The four record tables of a geometry (inode, dirent, extent, rmap: refcount records share the
/// rmap table) and which slot holds a byte: for the commit-time record check, and for tools that
/// damage or reseal records on purpose (crash and fsck tests).
/// </summary>
public static class RecordTables
{
    public readonly record struct Table(string Name, long Start, int SlotSize, long Count)
    {
        public long End => Start + Count * SlotSize;
    }

    /// <summary>The table whose slots hold byte <paramref name="offset"/>, or null.</summary>
    public static Table? At(Geometry g, long offset)
    {
        Span<Table> tables =
        [
            new("inode", g.InodeOffset(0), DiskInode.Size, g.InodeCount),
            new("dirent", g.DirentOffset(0), DiskDirent.Size, g.DirentCount),
            new("extent", g.ExtentOffset(0), DiskExtent.Size, g.ExtentCount),
            new("rmap", g.RmapOffset(0), DiskRmap.Size, g.RmapCount),
        ];
        foreach (var t in tables)
            if (offset >= t.Start && offset < t.End) return t;
        return null;
    }

    /// <summary>The record (offset and size) holding byte <paramref name="offset"/>, or null when it is in no table.</summary>
    public static (long Offset, int Size)? RecordHolding(Geometry g, long offset) =>
        At(g, offset) is { } t ? (t.Start + (offset - t.Start) / t.SlotSize * t.SlotSize, t.SlotSize) : null;
}
