namespace PmemFs.Engine.Mapping;

/// <summary>
/// The bytes an operation stores into the blocks <see cref="Mapper.MapForWrite"/> maps for it:
/// where they lie in the file, and how to copy a part of them to the media. The mapper zeroes
/// the rest of every new or converted block and flushes; the source only copies.
/// </summary>
/// <remarks>
/// A generic struct argument (a ref struct for write(2)'s span), so the hot write path neither
/// allocates a delegate nor boxes.
/// </remarks>
internal interface IWriteSource
{
    /// <summary>First file byte of the data.</summary>
    long Start { get; }

    /// <summary>File byte just past the data (<see cref="Start"/> when there is none).</summary>
    long End { get; }

    /// <summary>Copies the data's bytes [fileOffset, +length) to the media at <paramref name="mediaOffset"/> (no flush: the mapper flushes).</summary>
    void CopyTo(long mediaOffset, long fileOffset, int length);
}

/// <summary>prepare-write's source: no data, so every new or converted block is zeroed whole.</summary>
internal readonly struct NothingToStore : IWriteSource
{
    public long Start => 0;
    public long End => 0;
    public void CopyTo(long mediaOffset, long fileOffset, int length) { }
}
