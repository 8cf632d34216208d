using PmemFs.Media;

namespace PmemFs.Format;

public sealed record MkfsOptions
{
    public long? InodeCount { get; init; }
    public string Label { get; init; } = "";
    public Guid? Uuid { get; init; }
    public uint RootUid { get; init; }
    public uint RootGid { get; init; }
    /// <summary>Persisted flags of the root directory (e.g. DAX, inherited by everything below).</summary>
    public InodeFlags RootFlags { get; init; }
}

/// <summary>Writes a fresh, empty file system onto a region.</summary>
public static class Mkfs
{
    /// <param name="progress">Called with (bytes done, bytes total) while metadata areas are zeroed.</param>
    public static Superblock Format(IMedia media, MkfsOptions options, Action<long, long>? progress = null)
    {
        if (media.Size % FormatConstants.BlockSize != 0)
            throw new ImageFormatException($"region size {media.Size} is not a multiple of {FormatConstants.BlockSize} bytes");
        var g = Geometry.Compute(media.Size, options.InodeCount);
        long now = Time.NowNs();
        var sb = new Superblock
        {
            Geometry = g,
            Uuid = options.Uuid ?? Guid.NewGuid(),
            CreatedNs = now,
            JournalSalt = (ulong)Random.Shared.NextInt64() | 1,
            Label = options.Label,
            // The count to compare with at the first mount: only shutdowns after mkfs matter.
            UnsafeShutdownCount = (ulong)Math.Max(0, media.UnsafeShutdownCount ?? 0),
        };

        // 1. Invalidate first: a crash mid-mkfs must not leave something that looks mountable.
        media.Fill(0, FormatConstants.BlockSize, 0);
        media.Fill(g.SecondarySuperblock * FormatConstants.BlockSize, FormatConstants.BlockSize, 0);
        media.Flush(0, FormatConstants.BlockSize);
        media.Flush(g.SecondarySuperblock * FormatConstants.BlockSize, FormatConstants.BlockSize);
        media.Drain();

        // 2. Zero every metadata area (journal .. end of the rmap table), in chunks for progress.
        long metaBytes = Geometry.BlockOffset(g.DataStart);
        const long chunk = 16L << 20;
        for (long off = FormatConstants.BlockSize; off < metaBytes; off += chunk)
        {
            long len = Math.Min(chunk, metaBytes - off);
            media.Fill(off, len, 0);
            media.Flush(off, len);
            progress?.Invoke(off + len, metaBytes);
        }

        // 3. Metadata areas: in use in the bitmap, owned in the rmap.
        Span<byte> rec = stackalloc byte[DiskRmap.Size];
        long rmapSlot = 0;
        foreach (var (kind, start, blocks) in g.MetadataAreas())
        {
            FreeSpaceBitmap.ApplyRange(media, g, start, blocks, set: true);
            DiskRmap.Seal(new RmapRecord(start, blocks, kind, 0, 0), rec);
            media.Write(g.RmapOffset(rmapSlot), rec);
            media.Flush(g.RmapOffset(rmapSlot), DiskRmap.Size);
            rmapSlot++;
        }
        // Bits past the end of the region (last bitmap word) stay set so nobody allocates them.
        long bitmapBits = g.BitmapBlocks * FormatConstants.BlockSize * 8;
        if (bitmapBits > g.BlockCount) FreeSpaceBitmap.ApplyRange(media, g, g.BlockCount, Math.Min(bitmapBits - g.BlockCount, 64 - g.BlockCount % 64), set: true);

        // 4. The root directory.
        Span<byte> ino = stackalloc byte[DiskInode.Size];
        DiskInode.Seal(new InodeRecord
        {
            Ino = FormatConstants.RootIno,
            Generation = 1,
            Mode = FileTypes.Directory | 0x1ED, // 0755
            Uid = options.RootUid,
            Gid = options.RootGid,
            Nlink = 2,
            Flags = (ulong)options.RootFlags,
            AtimeNs = now, MtimeNs = now, CtimeNs = now, BtimeNs = now,
        }, ino);
        media.Write(g.InodeOffset(0), ino);
        media.Flush(g.InodeOffset(0), DiskInode.Size);

        // 5. An empty journal, then the superblocks: secondary first, primary last (the commit point).
        media.Drain();
        JournalReplay.WriteHeader(media, g, generation: 1, seq: 1, offset: 0);
        ImageReader.WriteSuperblock(media, sb, SuperblockCopy.Secondary);
        ImageReader.WriteSuperblock(media, sb, SuperblockCopy.Primary);
        return sb;
    }
}

public static class Time
{
    public static long NowNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}
