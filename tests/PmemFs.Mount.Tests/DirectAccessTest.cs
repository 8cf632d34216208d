using System.Runtime.InteropServices;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Direct access end to end through a real mount: a lease holder prepares a range
/// (PMEMFS_IOC_PREPARE_WRITE), reads where it lives in the region (the map it returns, and
/// PMEMFS_IOC_GET_MAP), stores straight into the image file at those physical offsets, with no
/// write(2) to the mount, no fsync and no msync; another process reads the bytes through the
/// mount, and they are still there after an unmount and remount, fsck clean.
/// </summary>
public class DirectAccessTest
{
    [StructLayout(LayoutKind.Sequential, Size = 32)]
    private struct Extent { public ulong FileOffset, PhysOffset, Length; public uint State, Reserved; }

    [StructLayout(LayoutKind.Sequential, Size = 4096)]
    private unsafe struct Map
    {
        public uint Version, Flags;
        public ulong Offset, Length, NextOffset;
        public uint Count, Reserved0;
        public ulong FileSize, R1, R2;
        public fixed byte Extents[126 * 32];

        public Extent this[int i]
        {
            get { fixed (byte* p = Extents) return ((Extent*)p)[i]; }
        }
    }

    private const uint Hole = 0, Written = 2, ExtendSize = 1;
    private const int EACCES = 13, EINVAL = 22, ENXIO = 6;

    private static unsafe int Call(int fd, uint request, ref Map map)
    {
        fixed (Map* p = &map) return Native.ioctl(fd, request, p) < 0 ? Native.Errno : 0;
    }

    private static Map Args(ulong offset, ulong length, uint flags = 0) => new() { Version = 1, Offset = offset, Length = length, Flags = flags };

    [SkippableFact]
    public unsafe void StoresIntoPreparedRangesOfTheRegionAreTheFilesDataWithNoSyscallOnTheDataPath()
    {
        using var fs = new MountedFileSystem("64M");
        string file = fs["direct"];
        File.WriteAllBytes(file, []);
        Proc.Check(fs.Cli, "chattr", "+dax", file);
        const int size = 3 << 20; // more than one 2 MiB extent's worth
        int fd = Native.open(file, Native.O_RDWR, 0);
        Assert.True(fd >= 0, $"open: errno {Native.Errno}");
        try
        {
            // No lease yet: neither the map nor prepare-write.
            var noLease = Args(0, size);
            Assert.Equal(EACCES, Call(fd, LeaseIoctls.GetMap, ref noLease));
            noLease = Args(0, size, ExtendSize);
            Assert.Equal(EACCES, Call(fd, LeaseIoctls.PrepareWrite, ref noLease));

            var lease = new LeaseIoctls.Lease { Version = 1, Mode = 2, Offset = 0, Length = LeaseIoctls.ToEnd };
            Assert.Equal(0, LeaseIoctls.Call(fd, LeaseIoctls.Acquire_, ref lease));

            // A malformed struct changes nothing; past EOF without EXTEND_SIZE is ENXIO.
            var bad = Args(0, size, ExtendSize);
            bad.Reserved0 = 1;
            Assert.Equal(EINVAL, Call(fd, LeaseIoctls.PrepareWrite, ref bad));
            var pastEof = Args(0, size);
            Assert.Equal(ENXIO, Call(fd, LeaseIoctls.PrepareWrite, ref pastEof));
            Assert.Equal(0, new FileInfo(file).Length);

            var map = Args(0, size, ExtendSize);
            Assert.Equal(0, Call(fd, LeaseIoctls.PrepareWrite, ref map));
            Assert.Equal((ulong)size, map.FileSize);
            Assert.True(map.Count > 0);
            ulong covered = 0;
            for (int i = 0; i < map.Count; i++)
            {
                Assert.Equal(Written, map[i].State);
                Assert.Equal(covered, map[i].FileOffset);
                covered += map[i].Length;
            }
            Assert.Equal((ulong)size, covered);
            Assert.Equal((ulong)size, map.NextOffset);

            // GET_MAP gives the same map.
            var again = Args(0, size);
            Assert.Equal(0, Call(fd, LeaseIoctls.GetMap, ref again));
            Assert.Equal(map.Count, again.Count);
            for (int i = 0; i < map.Count; i++) Assert.Equal(map[i], again[i]);

            // Store straight into the region (the image file; the trust boundary: root may).
            var expected = new byte[size];
            new Random(11).NextBytes(expected);
            using (var image = File.OpenHandle(fs.Image, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
            {
                for (int i = 0; i < map.Count; i++)
                {
                    var e = map[i];
                    RandomAccess.Write(image, expected.AsSpan((int)e.FileOffset, (int)e.Length), (long)e.PhysOffset);
                }
            }

            // Another reader through the mount sees the stores.
            Assert.Equal(expected, File.ReadAllBytes(file));
            Assert.Equal(size, (int)new FileInfo(file).Length);

            // A hole past the prepared range reads as a hole in the map.
            var tail = Args((ulong)size, 1 << 20);
            Assert.Equal(0, Call(fd, LeaseIoctls.GetMap, ref tail));
            Assert.True(tail.Count == 0 || tail[0].State == Hole, $"past EOF: {tail.Count} extents, first state {tail[0].State}");

            Native.close(fd);
            fd = -1;
            fs.Remount();
            Assert.Equal(expected, File.ReadAllBytes(file));
            fs.Unmount();
            var fsck = fs.Fsck();
            Assert.True(fsck.Ok, fsck.ToString());
        }
        finally
        {
            if (fd >= 0) Native.close(fd);
        }
    }
}
