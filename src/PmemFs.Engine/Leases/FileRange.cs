namespace PmemFs.Engine.Leases;

/// <summary>
/// Bytes [<see cref="Offset"/>, <see cref="End"/>) of a file. A range that reaches
/// <see cref="long.MaxValue"/> runs to the end of any possible file (<see cref="WholeFile"/>,
/// <see cref="From"/>), which is how "the whole file, including what it may grow to" is said.
/// </summary>
public readonly record struct FileRange(long Offset, long Length)
{
    /// <summary>Every byte the file has or may ever have.</summary>
    public static FileRange WholeFile => new(0, long.MaxValue);

    /// <summary>From <paramref name="offset"/> to the end of any possible file.</summary>
    public static FileRange From(long offset) => new(offset, long.MaxValue - offset);

    /// <summary>[start, end), both already valid (internal callers).</summary>
    internal static FileRange Between(long start, long end) => new(start, end - start);

    public long End => Offset + Length;

    public bool IsToEnd => End == long.MaxValue;

    public bool Overlaps(FileRange other) => Offset < other.End && other.Offset < End;

    public bool Contains(FileRange other) => Offset <= other.Offset && other.End <= End;

    /// <summary>
    /// Why a caller's range is unusable, or Ok: a negative offset or a length that is not
    /// positive is EINVAL; an end past <see cref="long.MaxValue"/> is EOVERFLOW (as Linux's
    /// byte-range locks answer an l_start + l_len that overflows).
    /// </summary>
    public static Errno Check(long offset, long length)
    {
        if (offset < 0 || length <= 0) return Errno.EINVAL;
        if (offset > long.MaxValue - length) return Errno.EOVERFLOW;
        return Errno.Ok;
    }

    public override string ToString() => IsToEnd ? $"[{Offset}, end)" : $"[{Offset}, {End})";
}
