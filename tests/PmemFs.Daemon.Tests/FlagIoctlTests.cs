using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using PmemFs.Daemon;
using PmemFs.Abi;
using PmemFs.Daemon.Operations;
using PmemFs.Format;

namespace PmemFs.Daemon.Tests;

/// <summary>The flag ioctls' wire formats and the mapping finder, without a mount.</summary>
public sealed class FlagIoctlTests
{
    [Fact]
    public void TheOwnIoctlStructIs64BytesAndItsNumbersMatchTheHeader()
    {
        Assert.Equal(64, Unsafe.SizeOf<PmemFsInodeFlags>());
        // _IOR('P', 0x40, 64 bytes) and _IOWR('P', 0x41, 64 bytes), as gcc computes them from pmemfs.h.
        Assert.Equal((2u << 30) | (64u << 16) | ('P' << 8) | 0x40, PmemFsIoctlAbi.GetFlags);
        Assert.Equal((3u << 30) | (64u << 16) | ('P' << 8) | 0x41, PmemFsIoctlAbi.SetFlags);
        Assert.Equal((ulong)InodeFlags.Known, PmemFsIoctlAbi.FlAll);
        Assert.Equal((ulong)InodeFlags.DaxImmutable, PmemFsIoctlAbi.FlDaxImmutable);
    }

    [Fact]
    public void TheHeaderDeclaresTheSameNumbers()
    {
        string header = File.ReadAllText(Path.Combine(RepoRoot(), "src", "include", "pmemfs.h"));
        Assert.Contains("_IOR('P', 0x40, struct pmemfs_inode_flags)", header, StringComparison.Ordinal);
        Assert.Contains("_IOWR('P', 0x41, struct pmemfs_inode_flags)", header, StringComparison.Ordinal);
        Assert.Contains("PMEMFS_FL_DAX_IMMUTABLE  0x0040ULL", header, StringComparison.Ordinal);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PmemFs.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("PmemFs.sln not found above the test directory");
    }

    [Theory]
    [InlineData(0x10u, InodeFlags.Immutable)]
    [InlineData(0x20u, InodeFlags.Append)]
    [InlineData(0x40u, InodeFlags.NoDump)]
    [InlineData(0x80u, InodeFlags.NoAtime)]
    [InlineData(0x08u, InodeFlags.Sync)]
    [InlineData(0x02000000u, InodeFlags.Dax)]
    public void FsFlagsMapBothWays(uint word, InodeFlags flag)
    {
        Assert.Equal(flag, StandardFlags.FromFsFlags(word));
        Assert.Equal(word, StandardFlags.ToFsFlags(flag));
    }

    [Fact]
    public void XflagsMapBothWaysAndUnknownBitsAreRefused()
    {
        var all = StandardFlags.All;
        Assert.Equal(0x8u | 0x10 | 0x20 | 0x40 | 0x80 | 0x8000, StandardFlags.ToXflags(all));
        Assert.Equal(all, StandardFlags.FromXflags(StandardFlags.ToXflags(all)));
        Assert.Null(StandardFlags.FromXflags(0x200)); // FS_XFLAG_PROJINHERIT
        Assert.Null(StandardFlags.FromFsFlags(0x00080000)); // FS_EXTENT_FL
        Assert.Equal(0u, StandardFlags.ToFsFlags(InodeFlags.DaxImmutable)); // no Linux bit
    }

    [Theory]
    [InlineData("0:45", "00:2d")]
    [InlineData("259:3", "103:03")]
    [InlineData("bogus", null)]
    public void MountinfoDevicesBecomeMapsDevices(string mountinfo, string? maps) =>
        Assert.Equal(maps, ProcMapsProbe.FormatMapsDevice(mountinfo));

    [Fact]
    public void MapsLinesAreMatchedOnDeviceAndInode()
    {
        const string line = "7f1c2a000000-7f1c2a001000 rw-s 00000000 00:2d 12345                      /mnt/p/f";
        Assert.True(ProcMapsProbe.LineMaps(line, "00:2d", 12345));
        Assert.False(ProcMapsProbe.LineMaps(line, "00:2d", 1234));
        Assert.False(ProcMapsProbe.LineMaps(line, "00:2e", 12345));
        Assert.False(ProcMapsProbe.LineMaps("7f1c2a000000-7f1c2a001000 rw-p 00000000 00:00 0", "00:2d", 12345));
    }

    [Fact]
    public void AMappingOfARealFileIsFound()
    {
        string path = Path.Combine(Path.GetTempPath(), $"pmemfs-probe-{Environment.ProcessId}");
        File.WriteAllBytes(path, new byte[4096]);
        try
        {
            var (device, ino) = MapsIdentity(path);
            Assert.Null(ProcMapsProbe.FindMapper(device, ino, exceptPid: -1));
            using (var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 4096, MemoryMappedFileAccess.ReadWrite))
            using (var view = map.CreateViewAccessor())
            {
                Assert.Equal(Environment.ProcessId, ProcMapsProbe.FindMapper(device, ino, exceptPid: -1));
                Assert.Null(ProcMapsProbe.FindMapper(device, ino, exceptPid: Environment.ProcessId));
            }
            Assert.Null(ProcMapsProbe.FindMapper(device, ino, exceptPid: -1));
        }
        finally { File.Delete(path); }
    }

    /// <summary>The file's device and inode as /proc/PID/maps prints them, from stat(1).</summary>
    private static (string Device, ulong Ino) MapsIdentity(string path)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%Hd:%Ld %i", path]) { RedirectStandardOutput = true })!;
        var parts = p.StandardOutput.ReadToEnd().Trim().Split(' ');
        p.WaitForExit();
        return (ProcMapsProbe.FormatMapsDevice(parts[0])!, ulong.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
