using System.Globalization;
using PmemFs.Format;
using PmemFs.Media.Poison;

namespace PmemFs.Check;

/// <summary>
/// Phase 8, media errors: every bad range of the region (the device's list, or an emulated
/// image's IMAGE.poison) and what it hits. Poisoned metadata is a problem (its records could not
/// be read: the phases before saw zeros there; `--repair` clears it and rebuilds); poisoned file
/// data and free space are notes: the file system handles them (the range reads EIO until
/// overwritten, zeroed or punched; free blocks are withheld), and no repair can bring the bytes back.
/// </summary>
internal static class PhasePoison
{
    public static void Run(FsckContext ctx, IReadOnlyList<BadRange> bad)
    {
        var g = ctx.Geometry;
        long bs = FormatConstants.BlockSize;
        foreach (var r in bad)
        {
            string where = $"region bytes {N(r.Offset)}-{N(r.End - 1)}";
            bool owned = false;
            foreach (var (kind, start, blocks) in g.MetadataAreas())
            {
                if (!r.Overlaps(start * bs, blocks * bs)) continue;
                owned = true;
                ctx.Problem("poison", $"{where}: poisoned {Name(kind)}: what it held there could not be read (run pmemfs fsck --repair: it clears the poison and rebuilds from the rest)");
            }
            foreach (var (_, e) in ctx.Extents)
            {
                long ps = e.PhysBlock * bs, pe = (e.PhysBlock + e.BlockCount) * bs;
                if (!r.Overlaps(ps, pe - ps)) continue;
                owned = true;
                long s = Math.Max(ps, r.Offset), end = Math.Min(pe, r.End);
                long fileOffset = e.FileBlock * bs + (s - ps);
                ctx.Note($"poison: inode {e.Ino} file offset {N(fileOffset)} (+{N(end - s)}), {where}: reads EIO until overwritten, zeroed or punched");
            }
            foreach (var (ino, rec) in ctx.Inodes)
            {
                if (rec.XattrBlock == 0 || !r.Overlaps(rec.XattrBlock * bs, rec.XattrBlocks * bs)) continue;
                owned = true;
                // Past the blob's length the blocks hold nothing: the next xattr change writes a new blob elsewhere.
                if (r.Overlaps(rec.XattrBlock * bs, (long)rec.XattrLength))
                    ctx.Problem("poison", $"{where}: inode {ino}'s xattr blob is poisoned (run pmemfs fsck --repair: it drops the xattrs it cannot read)");
                else ctx.Note($"poison: inode {ino}'s xattr blob blocks, past its {N((long)rec.XattrLength)} bytes, {where}: nothing is read there");
            }
            if (!owned) ctx.Note($"poison: free space, {where}: withheld from the allocator until cleared (pmemfs poison clear)");
        }
    }

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    internal static string Name(RmapOwnerKind kind) => kind switch
    {
        RmapOwnerKind.Superblock => "superblock copy",
        RmapOwnerKind.Journal => "journal",
        RmapOwnerKind.Bitmap => "free-space bitmap",
        RmapOwnerKind.InodeTable => "inode table",
        RmapOwnerKind.DirentTable => "directory-entry table",
        RmapOwnerKind.ExtentTable => "extent table",
        RmapOwnerKind.RmapTable => "reverse-map table",
        _ => kind.ToString(),
    };
}
