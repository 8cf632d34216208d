namespace PmemFs.Engine.Mapping;

/// <summary>Options of <see cref="FileSystem.PrepareWrite"/>.</summary>
[Flags]
public enum PrepareWriteFlags
{
    None = 0,
    /// <summary>A range that ends past EOF grows the file to its end (in the same transaction); without it such a range is refused (ENXIO).</summary>
    ExtendSize = 1,
}
