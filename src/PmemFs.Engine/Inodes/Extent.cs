using PmemFs.Format;

namespace PmemFs.Engine.Inodes;

/// <summary>
/// One mapping of a file, in memory: the extent record plus where it and its rmap record live.
/// Immutable: an edit replaces extents, so readers holding the inode's read lock see a stable map.
/// </summary>
public sealed record Extent(long FileBlock, long PhysBlock, long Count, ExtentState State, long Slot, long RmapSlot)
{
    public long FileEnd => FileBlock + Count;
    public long PhysEnd => PhysBlock + Count;

    /// <summary>Physical block backing file block <paramref name="fileBlock"/> (inside this extent).</summary>
    public long PhysOf(long fileBlock) => PhysBlock + (fileBlock - FileBlock);
}

/// <summary>An extent before it has slots: what an edit wants the map to hold.</summary>
public readonly record struct ExtentPiece(long FileBlock, long PhysBlock, long Count, ExtentState State)
{
    /// <summary>The piece maps blocks another extent maps already (a clone): one more reference, not a new allocation.</summary>
    public bool Shares { get; init; }

    public long FileEnd => FileBlock + Count;
    public long PhysEnd => PhysBlock + Count;
}
