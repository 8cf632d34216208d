using PmemFs.CrashSim;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.CrashSim.Tests;

/// <summary>A power loss during `fsck --repair` (issue 13): repairing again converges to one uninterrupted repair's tree.</summary>
public class RepairCrashTests
{
    private static byte[] Damaged(string kind)
    {
        using var media = new MemoryMedia(16L << 20);
        Mkfs.Format(media, new MkfsOptions());
        using (var fs = FileSystem.Mount(media))
        {
            for (int i = 0; i < 6; i++)
            {
                Assert.Equal(Errno.Ok, fs.Create(FormatConstants.RootIno, System.Text.Encoding.UTF8.GetBytes($"f{i}"), 0x81A4, Credentials.Root, out var a));
                Assert.Equal(Errno.Ok, fs.Write(a.Ino, 0, new byte[5000 + i], Credentials.Root, out _));
            }
        }
        var g = ImageReader.ReadSuperblock(media, "x").Superblock.Geometry;
        long at = kind switch
        {
            "inode" => g.InodeOffset(3),
            "extent" => g.ExtentOffset(2),
            "rmap" => g.RmapOffset(12),
            _ => g.DirentOffset(1),
        };
        media.RawBytes(at + 8, 4).Fill(0x5A);
        return media.Read(0, (int)media.Size).ToArray();
    }

    [Theory]
    [InlineData("inode")]
    [InlineData("dirent")]
    [InlineData("extent")]
    [InlineData("rmap")]
    public void ACrashDuringRepairRepairsToTheSameTree(string kind)
    {
        var (states, points, problem) = RepairCrashes.Check(Damaged(kind), maxSubset: 6, samplesPerPoint: 4, seed: 1);
        Assert.True(problem is null, problem);
        Assert.True(points >= 3 && states >= points, $"{points} points, {states} states");
    }
}
