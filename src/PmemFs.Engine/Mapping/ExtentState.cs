namespace PmemFs.Engine.Mapping;

/// <summary>What a range of a file is backed by, as a direct-access client sees it (a pNFS block layout's states).</summary>
/// <remarks>
/// Not the on-media <see cref="PmemFs.Format.ExtentState"/>: that one describes records
/// (written, unwritten); this one describes every byte of a file range, holes included, and has
/// room for sharing.
/// </remarks>
public enum ExtentState
{
    /// <summary>No blocks: reads as zeros; <see cref="MappedExtent.PhysicalOffset"/> is -1. Stores need prepare-write first.</summary>
    Hole = 0,
    /// <summary>Blocks allocated but not yet zeroed (preallocation): reads as zeros; the media may hold anything. Stores need prepare-write first.</summary>
    Unwritten = 1,
    /// <summary>Blocks holding the file's data: loads see the file; a write-lease holder's stores plus a flush are durable.</summary>
    Written = 2,
    /// <summary>
    /// Written blocks that other extents map too (reflinked): loads see the file; stores must not
    /// go there (the other files would see them): prepare-write gives the range its own copy first.
    /// </summary>
    Shared = 3,
    /// <summary>
    /// Written blocks holding poison (bad bytes, DESIGN.md "Poison"): a load would raise a machine
    /// check, reads through the mount get EIO, and stores cannot clear it. Never map them; a write
    /// through the mount covering the blocks, zero range or punch makes them Written again.
    /// </summary>
    Poisoned = 4,
}
