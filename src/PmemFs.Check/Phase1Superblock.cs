using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// Phase 1: both superblock copies valid and identical. A bad copy next to a good one is a
/// problem, and checking goes on with the good one; two bad copies end the check
/// (<see cref="ImageFormatException"/> from <see cref="ImageReader.ReadSuperblock"/>).
/// </summary>
internal static class Phase1Superblock
{
    /// <returns>false when there is no usable superblock to go on with.</returns>
    public static bool Run(FsckContext ctx)
    {
        ctx.Report("superblock", 0, 2);
        OpenedSuperblock opened;
        try
        {
            opened = ImageReader.ReadSuperblock(ctx.Media, ctx.ImageName);
        }
        catch (ImageFormatException)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ctx.Problem("superblock", $"cannot be read: {e.GetType().Name}: {e.Message}");
            return false;
        }
        ctx.Superblock = opened.Superblock;
        if (opened.UsedCopy == SuperblockCopy.Secondary)
            ctx.Problem("superblock", $"primary copy is unusable ({opened.PrimaryProblem}); checking with the secondary copy");
        if (opened.SecondaryProblem is not null)
            ctx.Problem("superblock", $"secondary copy (block {ctx.Geometry.SecondarySuperblock}) is unusable ({opened.SecondaryProblem})");

        var g = ctx.Geometry;
        ctx.Verbose($"superblock: uuid {opened.Superblock.Uuid}, label \"{opened.Superblock.Label}\", {g.BlockCount} blocks, "
            + $"{g.InodeCount} inodes, {g.DirentCount} dirents, {g.ExtentCount} extents, {g.RmapCount} rmap slots, data blocks {g.DataStart}..{g.DataEnd - 1}");
        ctx.Report("superblock", 2, 2);
        ctx.EndPhase("phase 1 (superblock)");
        return true;
    }
}
