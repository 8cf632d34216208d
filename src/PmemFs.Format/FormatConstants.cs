namespace PmemFs.Format;

/// <summary>Numbers that every structure of the format shares. See docs/format.md.</summary>
public static class FormatConstants
{
    /// <summary>Allocation unit of the region (data blocks, metadata areas).</summary>
    public const int BlockSize = 4096;
    public const int BlockShift = 12;

    /// <summary>Allocation alignment DAX files prefer, so direct mappings can use huge pages.</summary>
    public const long HugePageSize = 2 * 1024 * 1024;
    public const long HugePageBlocks = HugePageSize / BlockSize;

    /// <summary>The persistence-domain unit that flushes work in; journal records are aligned to it.</summary>
    public const int CacheLine = 64;

    /// <summary>
    /// The newest format this build writes: 2 adds reference-count records (shared extents) in
    /// the rmap table. A version 1 image mounts as it is and becomes version 2 when a file first
    /// shares blocks (<see cref="OldestFormatVersion"/> .. <see cref="FormatVersion"/> are read).
    /// </summary>
    public const uint FormatVersion = 2;

    /// <summary>The oldest format version this build reads: version 1 images have no shared extents.</summary>
    public const uint OldestFormatVersion = 1;

    /// <summary>Smallest region mkfs accepts.</summary>
    public const long MinimumRegionSize = 16L * 1024 * 1024;

    /// <summary>The root directory's inode number (also FUSE_ROOT_ID).</summary>
    public const ulong RootIno = 1;

    public const int MaxNameLength = 255;
    public const int MaxSymlinkLength = 4095;

    /// <summary>Largest xattr value (Linux XATTR_SIZE_MAX) and largest total per inode.</summary>
    public const int MaxXattrValue = 65536;
    public const int MaxXattrTotal = 65536 + 4096;

    /// <summary>Largest file size: 2^52 bytes keeps every block number far below 2^63.</summary>
    public const long MaxFileSize = 1L << 52;
}
