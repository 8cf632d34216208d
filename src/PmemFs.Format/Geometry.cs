namespace PmemFs.Format;

/// <summary>
/// Where everything lives in the region, in blocks. Computed once by mkfs, stored in the
/// superblock, and read back by everything else.
/// </summary>
/// <remarks>
/// <code>
/// block 0                      primary superblock
/// [JournalStart, +Blocks)      journal: one header block, then the circular log
/// [BitmapStart, +Blocks)       free-space bitmap, one bit per block of the region (1 = in use)
/// [InodeTableStart, ...)       InodeCount slots of DiskInode.Size bytes
/// [DirentTableStart, ...)      DirentCount slots of DiskDirent.Size bytes
/// [ExtentTableStart, ...)      ExtentCount slots of DiskExtent.Size bytes
/// [RmapTableStart, ...)        RmapCount slots of DiskRmap.Size bytes (grown to reach a 2 MiB boundary)
/// [DataStart, BlockCount - 1)  data blocks (file data, xattr blobs); starts 2 MiB-aligned
/// block BlockCount - 1         secondary superblock
/// </code>
/// </remarks>
public sealed record Geometry
{
    public required long RegionSize { get; init; }
    public long BlockCount => RegionSize / FormatConstants.BlockSize;
    public required long JournalStart { get; init; }
    public required long JournalBlocks { get; init; }
    public required long BitmapStart { get; init; }
    public required long BitmapBlocks { get; init; }
    public required long InodeTableStart { get; init; }
    public required long InodeCount { get; init; }
    public required long DirentTableStart { get; init; }
    public required long DirentCount { get; init; }
    public required long ExtentTableStart { get; init; }
    public required long ExtentCount { get; init; }
    public required long RmapTableStart { get; init; }
    public required long RmapCount { get; init; }
    public required long DataStart { get; init; }

    public long SecondarySuperblock => BlockCount - 1;
    public long DataEnd => SecondarySuperblock;
    public long DataBlocks => DataEnd - DataStart;

    public long InodeTableBlocks => BlocksFor(InodeCount, DiskInode.Size);
    public long DirentTableBlocks => BlocksFor(DirentCount, DiskDirent.Size);
    public long ExtentTableBlocks => BlocksFor(ExtentCount, DiskExtent.Size);
    public long RmapTableBlocks => BlocksFor(RmapCount, DiskRmap.Size);

    /// <summary>Byte offset of the journal's header block and of its circular log.</summary>
    public long JournalHeaderOffset => JournalStart * FormatConstants.BlockSize;
    public long LogOffset => (JournalStart + 1) * FormatConstants.BlockSize;
    public long LogBytes => (JournalBlocks - 1) * FormatConstants.BlockSize;

    public long InodeOffset(long slot) => InodeTableStart * FormatConstants.BlockSize + slot * DiskInode.Size;
    public long DirentOffset(long slot) => DirentTableStart * FormatConstants.BlockSize + slot * DiskDirent.Size;
    public long ExtentOffset(long slot) => ExtentTableStart * FormatConstants.BlockSize + slot * DiskExtent.Size;
    public long RmapOffset(long slot) => RmapTableStart * FormatConstants.BlockSize + slot * DiskRmap.Size;
    public static long BlockOffset(long block) => block * FormatConstants.BlockSize;

    /// <summary>Inode numbers are slot + 1, so the root (1) is slot 0 and 0 means "none".</summary>
    public static long SlotOfIno(ulong ino) => (long)ino - 1;
    public static ulong InoOfSlot(long slot) => (ulong)slot + 1;
    public bool IsValidIno(ulong ino) => ino >= 1 && ino <= (ulong)InodeCount;

    public bool IsDataBlockRange(long start, long count) =>
        count > 0 && start >= DataStart && start <= DataEnd - count;

    /// <summary>Every metadata area with its rmap owner, in region order.</summary>
    public IEnumerable<(RmapOwnerKind Kind, long Start, long Blocks)> MetadataAreas()
    {
        yield return (RmapOwnerKind.Superblock, 0, 1);
        yield return (RmapOwnerKind.Journal, JournalStart, JournalBlocks);
        yield return (RmapOwnerKind.Bitmap, BitmapStart, BitmapBlocks);
        yield return (RmapOwnerKind.InodeTable, InodeTableStart, InodeTableBlocks);
        yield return (RmapOwnerKind.DirentTable, DirentTableStart, DirentTableBlocks);
        yield return (RmapOwnerKind.ExtentTable, ExtentTableStart, ExtentTableBlocks);
        yield return (RmapOwnerKind.RmapTable, RmapTableStart, DataStart - RmapTableStart);
        yield return (RmapOwnerKind.Superblock, SecondarySuperblock, 1);
    }

    /// <summary>Structural check: areas in order, inside the region, big enough for their slots.</summary>
    public string? Validate()
    {
        if (RegionSize < FormatConstants.MinimumRegionSize || RegionSize % FormatConstants.BlockSize != 0)
            return $"region size {RegionSize} is not a multiple of {FormatConstants.BlockSize} of at least {FormatConstants.MinimumRegionSize}";
        // Every start and count must lie inside the region before any sum or product is trusted:
        // a forged superblock could otherwise wrap the arithmetic around to something "valid".
        long blocks = BlockCount;
        foreach (var (name, v) in new[] { ("journal blocks", JournalBlocks), ("bitmap start", BitmapStart), ("bitmap blocks", BitmapBlocks),
            ("inode table start", InodeTableStart), ("dirent table start", DirentTableStart), ("extent table start", ExtentTableStart),
            ("rmap table start", RmapTableStart), ("data start", DataStart) })
            if (v < 0 || v > blocks) return $"{name} {v} lies outside the region of {blocks} blocks";
        if (JournalStart != 1) return $"journal starts at block {JournalStart}, expected 1";
        if (JournalBlocks < 16) return $"journal of {JournalBlocks} blocks is too small";
        // Replay reads the whole log as one span: it must stay below 2 GiB (mkfs makes at most 64 MiB).
        if (JournalBlocks > int.MaxValue / FormatConstants.BlockSize) return $"journal of {JournalBlocks} blocks is too large";
        if (BitmapStart != JournalStart + JournalBlocks) return "bitmap does not follow the journal";
        if (BitmapBlocks < 1 || BitmapBlocks * FormatConstants.BlockSize * 8L < BlockCount)
            return $"bitmap of {BitmapBlocks} blocks cannot describe {BlockCount} blocks";
        if (InodeTableStart != BitmapStart + BitmapBlocks) return "inode table does not follow the bitmap";
        if (InodeCount < 1 || InodeCount > uint.MaxValue) return $"impossible inode count {InodeCount}";
        if (DirentTableStart != InodeTableStart + InodeTableBlocks) return "dirent table does not follow the inode table";
        if (DirentCount < 1 || DirentCount > uint.MaxValue) return $"impossible dirent count {DirentCount}";
        if (ExtentTableStart != DirentTableStart + DirentTableBlocks) return "extent table does not follow the dirent table";
        if (ExtentCount < 1 || ExtentCount > uint.MaxValue) return $"impossible extent count {ExtentCount}";
        if (RmapTableStart != ExtentTableStart + ExtentTableBlocks) return "rmap table does not follow the extent table";
        if (RmapCount < 1 || RmapCount > uint.MaxValue) return $"impossible rmap count {RmapCount}";
        if (DataStart < RmapTableStart + RmapTableBlocks) return "data area overlaps the rmap table";
        if (DataStart >= SecondarySuperblock) return "no room for data blocks";
        return null;
    }

    public static long BlocksFor(long count, int recordSize) =>
        (count * recordSize + FormatConstants.BlockSize - 1) / FormatConstants.BlockSize;

    /// <summary>The layout mkfs uses for a region of <paramref name="regionSize"/> bytes.</summary>
    public static Geometry Compute(long regionSize, long? inodeCount = null)
    {
        const int bs = FormatConstants.BlockSize;
        if (regionSize < FormatConstants.MinimumRegionSize)
            throw new ImageFormatException($"region of {regionSize} bytes is too small: PmemFs needs at least {FormatConstants.MinimumRegionSize / (1024 * 1024)} MiB");
        regionSize -= regionSize % bs;
        long blocks = regionSize / bs;

        // One inode per 16 KiB by default; directory entries as many; extents twice that plus one
        // per 16 blocks for fragmentation; rmap one per extent plus xattr blobs.
        long inodes = inodeCount ?? Math.Clamp(regionSize / (16 * 1024), 1024, uint.MaxValue);
        if (inodes < 16 || inodes > uint.MaxValue) throw new ImageFormatException($"inode count {inodes} is out of range (16..{uint.MaxValue})");
        long dirents = inodes;
        long extents = Math.Min(inodes * 2 + blocks / 16, uint.MaxValue);
        long rmaps = Math.Min(extents + inodes / 4 + 64, uint.MaxValue);
        long journalBlocks = Math.Clamp(blocks / 512, 256, 16384);
        long bitmapBlocks = (blocks + bs * 8 - 1) / (bs * 8);

        long inodeStart = 1 + journalBlocks + bitmapBlocks;
        long direntStart = inodeStart + BlocksFor(inodes, DiskInode.Size);
        long extentStart = direntStart + BlocksFor(dirents, DiskDirent.Size);
        long rmapStart = extentStart + BlocksFor(extents, DiskExtent.Size);
        long rmapEnd = rmapStart + BlocksFor(rmaps, DiskRmap.Size);
        // Data starts on a 2 MiB boundary; the gap becomes more rmap slots rather than waste.
        long dataStart = (rmapEnd + FormatConstants.HugePageBlocks - 1) / FormatConstants.HugePageBlocks * FormatConstants.HugePageBlocks;
        rmaps = Math.Min((dataStart - rmapStart) * bs / DiskRmap.Size, uint.MaxValue);
        if (dataStart + 16 >= blocks - 1)
            throw new ImageFormatException($"region of {regionSize} bytes leaves no room for data with {inodes} inodes: use a larger size or fewer inodes");

        var g = new Geometry
        {
            RegionSize = regionSize,
            JournalStart = 1,
            JournalBlocks = journalBlocks,
            BitmapStart = 1 + journalBlocks,
            BitmapBlocks = bitmapBlocks,
            InodeTableStart = inodeStart,
            InodeCount = inodes,
            DirentTableStart = direntStart,
            DirentCount = dirents,
            ExtentTableStart = extentStart,
            ExtentCount = extents,
            RmapTableStart = rmapStart,
            RmapCount = rmaps,
            DataStart = dataStart,
        };
        string? problem = g.Validate();
        return problem is null ? g : throw new InvalidOperationException($"mkfs geometry is inconsistent: {problem}");
    }
}
