namespace PmemFs.Engine.Mapping;

/// <summary>
/// One piece of a file's extent map: file bytes [<see cref="FileOffset"/>, +<see cref="Length"/>)
/// are backed by region bytes [<see cref="PhysicalOffset"/>, +<see cref="Length"/>) in state
/// <see cref="State"/>. Offsets and lengths are in bytes and multiples of the block size.
/// </summary>
/// <param name="FileOffset">Where the piece starts in the file.</param>
/// <param name="PhysicalOffset">Where it starts in the region (the media, from its first byte); -1 for a hole.</param>
/// <param name="Length">Its length in bytes.</param>
/// <param name="State">Hole, unwritten, written (shared is reserved).</param>
public readonly record struct MappedExtent(long FileOffset, long PhysicalOffset, long Length, ExtentState State)
{
    public long FileEnd => FileOffset + Length;
}
