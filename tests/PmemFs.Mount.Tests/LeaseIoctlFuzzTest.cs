using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace PmemFs.Mount.Tests;

/// <summary>
/// The lease structs as an outside program declares them from src/include/pmemfs.h, and the
/// calls on a path (open, one ioctl, close) or on an open descriptor.
/// </summary>
internal static unsafe class LeaseIoctls
{
    public const uint Acquire_ = 0xC0405042, Release = 0x40205043, Pin = 0xC0405044, Unpin = 0x40205045,
        Status = 0xC0505046, List = 0xD0005047, GetMap = 0xD0005048, PrepareWrite = 0xD0005049;
    public const ulong ToEnd = ulong.MaxValue;

    [StructLayout(LayoutKind.Sequential, Size = 64)]
    public struct Lease { public uint Version, Mode; public ulong Offset, Length, Flags, LeaseId, R1, R2, R3; }

    [StructLayout(LayoutKind.Sequential, Size = 32)]
    public struct Ref { public uint Version, Reserved0; public ulong Id, R1, R2; }

    [StructLayout(LayoutKind.Sequential, Size = 64)]
    public struct PinArgs { public uint Version, Reserved0; public ulong LeaseId, Offset, Length, PinId, R1, R2, R3; }

    [StructLayout(LayoutKind.Sequential, Size = 80)]
    public struct StatusArgs { public uint Version, Reserved0; public ulong LeaseId; public uint State, Mode; public ulong Offset, Length; public long DeadlineNs, RemainingNs; public uint Pins, Reserved1; public ulong R2, R3; }

    [StructLayout(LayoutKind.Sequential, Size = 4096)]
    public struct ListPage { public uint Version, Flags; public ulong CursorLease, CursorPin; public uint Count, More; public long NowNs; public ulong R1, R2, R3; }

    [StructLayout(LayoutKind.Sequential, Size = 64)]
    public struct Entry { public ulong LeaseId, PinId, Ino, Offset, Length; public long GrantedNs, DeadlineNs; public int Pid; public ushort Mode, State; }

    public static int Call<T>(int fd, uint request, ref T arg) where T : unmanaged
    {
        fixed (T* p = &arg) return Native.ioctl(fd, request, p) < 0 ? Native.Errno : 0;
    }

    /// <summary>Opens <paramref name="path"/>, asks for a lease, closes (the lease ends with it): the errno.</summary>
    public static int Acquire(string path, int openFlags, uint mode, ulong offset, ulong length, out ulong id)
    {
        int fd = Native.Open(path, openFlags);
        try
        {
            var a = new Lease { Version = 1, Mode = mode, Offset = offset, Length = length };
            int errno = Call(fd, Acquire_, ref a);
            id = a.LeaseId;
            return errno;
        }
        finally { Native.close(fd); }
    }

    /// <summary>Every row of the mount's lease list, as (lease, pin, ino, offset, length, pid, mode, state).</summary>
    public static List<(ulong, ulong, ulong, ulong, ulong, int, ushort, ushort)> Rows(int fd)
    {
        var rows = new List<(ulong, ulong, ulong, ulong, ulong, int, ushort, ushort)>();
        var page = new ListPage { Version = 1 };
        do
        {
            int errno = Call(fd, List, ref page);
            if (errno != 0) throw new InvalidOperationException($"LEASE_LIST: errno {errno}");
            var entries = (Entry*)((byte*)&page + 64);
            for (int i = 0; i < page.Count; i++)
            {
                var e = entries[i];
                rows.Add((e.LeaseId, e.PinId, e.Ino, e.Offset, e.Length, e.Pid, e.Mode, e.State));
            }
        } while (page.More != 0);
        return rows;
    }
}

/// <summary>
/// Malformed lease ioctls through a real mount: thousands of random structs with bad versions,
/// reserved fields, flags, modes, ranges and ids, and unknown numbers. Each must get the errno
/// pmemfs.h documents (an oracle of the daemon's validation order), the mount's lease list must
/// be exactly what it was after every call (nothing changed), and fsck must be clean after.
/// </summary>
public sealed class LeaseIoctlFuzzTest
{
    private const int EINVAL = 22, ENOENT = 2, EOVERFLOW = 75, ENOTTY = 25;

    [SkippableFact]
    public void MalformedLeaseIoctlsGetTheirErrnoAndChangeNothing()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_IOCTL_FUZZ_SEED"), out int s) ? s : 11;
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_IOCTL_FUZZ_ROUNDS"), out int r) ? r : 3000;
        using var fs = new MountedFileSystem(options: "dax=always,lease_break=30");
        File.WriteAllBytes(fs["f"], new byte[256 * 1024]);
        int fd = Native.Open(fs["f"], Native.O_RDWR);
        try
        {
            var lease = new LeaseIoctls.Lease { Version = 1, Mode = 2, Offset = 0, Length = 65536 };
            Assert.Equal(0, LeaseIoctls.Call(fd, LeaseIoctls.Acquire_, ref lease));
            var pin = new LeaseIoctls.PinArgs { Version = 1, LeaseId = lease.LeaseId, Offset = 4096, Length = 4096 };
            Assert.Equal(0, LeaseIoctls.Call(fd, LeaseIoctls.Pin, ref pin));
            ulong leaseId = lease.LeaseId, pinId = pin.PinId;
            var before = LeaseIoctls.Rows(fd);
            Assert.Equal(2, before.Count);

            var rng = new Random(seed);
            int[] seen = new int[8];
            for (int round = 0; round < rounds; round++)
            {
                int kind = rng.Next(8);
                seen[kind]++;
                var (what, errno, expected) = kind switch
                {
                    0 => BadAcquire(rng, fd),
                    1 => BadRef(rng, fd, LeaseIoctls.Release, leaseId, "RELEASE"),
                    2 => BadRef(rng, fd, LeaseIoctls.Unpin, pinId, "UNPIN"),
                    3 => BadPin(rng, fd, leaseId),
                    4 => BadStatus(rng, fd, leaseId),
                    5 => BadList(rng, fd),
                    6 => BadRegion(rng, fd, fs.Image),
                    _ => UnknownNumber(rng, fd),
                };
                Assert.True(errno == expected, $"round {round} (seed {seed}): {what}: errno {errno}, expected {expected}");
                var after = LeaseIoctls.Rows(fd);
                Assert.True(after.SequenceEqual(before), $"round {round} (seed {seed}): {what} changed the lease list");
            }
            Assert.All(seen, n => Assert.True(n > 0));
            var status = new LeaseIoctls.StatusArgs { Version = 1, LeaseId = leaseId };
            Assert.Equal(0, LeaseIoctls.Call(fd, LeaseIoctls.Status, ref status));
            Assert.Equal((1u, 2u, 1u), (status.State, status.Mode, status.Pins));

            // The well-formed calls still work after all that, and each changes exactly what it says.
            var unpin = new LeaseIoctls.Ref { Version = 1, Id = pinId };
            Assert.Equal(0, LeaseIoctls.Call(fd, LeaseIoctls.Unpin, ref unpin));
            Assert.Equal(ENOENT, LeaseIoctls.Call(fd, LeaseIoctls.Unpin, ref unpin));
            Assert.Single(LeaseIoctls.Rows(fd));
            var release = new LeaseIoctls.Ref { Version = 1, Id = leaseId };
            Assert.Equal(0, LeaseIoctls.Call(fd, LeaseIoctls.Release, ref release));
            Assert.Equal(ENOENT, LeaseIoctls.Call(fd, LeaseIoctls.Release, ref release));
            Assert.Equal(ENOENT, LeaseIoctls.Call(fd, LeaseIoctls.Status, ref status));
            Assert.Empty(LeaseIoctls.Rows(fd));
        }
        finally { Native.close(fd); }
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, fsck.ToString());
    }

    /// <summary>A range that is bad in one of the documented ways, and its errno; or a good one (0).</summary>
    private static (ulong Offset, ulong Length, int Errno) RandomRange(Random rng, bool allowGood)
    {
        switch (rng.Next(allowGood ? 6 : 5))
        {
            case 0: return ((ulong)rng.NextInt64(0, 1 << 20), 0, EINVAL);                          // zero length
            case 1: return ((ulong)long.MaxValue + 1 + (ulong)rng.Next(1000), 4096, EINVAL);        // offset past INT64_MAX
            case 2: return (0, (ulong)long.MaxValue + 1 + (ulong)rng.Next(1000), EINVAL);           // length past INT64_MAX, not TO_END
            case 3: { ulong o = (ulong)rng.NextInt64(1, 1L << 40); return (o, (ulong)long.MaxValue - o + 1 + (ulong)rng.Next(100), EOVERFLOW); }
            case 4: return ((ulong)long.MaxValue, LeaseIoctls.ToEnd, EINVAL);                       // nothing left to the end
            default: return ((ulong)rng.Next(16) * 4096, (ulong)rng.Next(1, 16) * 4096, 0);
        }
    }

    private static (string, int, int) BadAcquire(Random rng, int fd)
    {
        var a = new LeaseIoctls.Lease { Version = 1, Mode = (uint)rng.Next(1, 3) };
        var (o, l, rangeErrno) = RandomRange(rng, allowGood: true);
        (a.Offset, a.Length) = (o, l);
        bool header = rangeErrno == 0 || rng.Next(2) == 0;
        if (header) Corrupt(rng, ref a.Version, ref a.Mode, ref a.Flags, ref a.LeaseId, ref a.R1, ref a.R2, ref a.R3);
        int expected = header ? EINVAL : rangeErrno; // the header and mode are checked before the range
        return ($"ACQUIRE v{a.Version} mode {a.Mode} {a.Offset}+{a.Length} flags {a.Flags} id {a.LeaseId} r {a.R1},{a.R2},{a.R3}", LeaseIoctls.Call(fd, LeaseIoctls.Acquire_, ref a), expected);
    }

    /// <summary>Breaks at least one of: version, mode (values 0, 3.., or huge), a field that must be zero.</summary>
    private static void Corrupt(Random rng, ref uint version, ref uint mode, ref ulong z1, ref ulong z2, ref ulong z3, ref ulong z4, ref ulong z5)
    {
        switch (rng.Next(4))
        {
            case 0: version = rng.Next(2) == 0 ? 0 : (uint)rng.Next(2, int.MaxValue); break;
            case 1: mode = rng.Next(2) == 0 ? 0 : (uint)rng.Next(3, int.MaxValue); break;
            case 2:
                switch (rng.Next(5))
                {
                    case 0: z1 = 1UL << rng.Next(64); break;
                    case 1: z2 = 1UL << rng.Next(64); break;
                    case 2: z3 = 1UL << rng.Next(64); break;
                    case 3: z4 = 1UL << rng.Next(64); break;
                    default: z5 = 1UL << rng.Next(64); break;
                }
                break;
            default:
                version = 7;
                z1 = (ulong)rng.NextInt64();
                break;
        }
    }

    private static ulong UnknownId(Random rng, params ulong[] known)
    {
        ulong id;
        do id = rng.Next(3) switch { 0 => 0, 1 => (ulong)rng.Next(1, 100), _ => (ulong)rng.NextInt64() | (rng.Next(2) == 0 ? 1UL << 63 : 0) };
        while (known.Contains(id));
        return id;
    }

    private static (string, int, int) BadRef(Random rng, int fd, uint request, ulong keep, string name)
    {
        var a = new LeaseIoctls.Ref { Version = 1, Id = UnknownId(rng, keep) };
        int expected = ENOENT;
        if (rng.Next(2) == 0)
        {
            expected = EINVAL;
            a.Id = keep; // a real id with a bad header: still refused
            switch (rng.Next(4))
            {
                case 0: a.Version = (uint)rng.Next(2, 100); break;
                case 1: a.Reserved0 = (uint)rng.Next(1, int.MaxValue); break;
                case 2: a.R1 = 1; break;
                default: a.R2 = 1UL << 63; break;
            }
        }
        return ($"{name} v{a.Version} r0 {a.Reserved0} id {a.Id} r {a.R1},{a.R2}", LeaseIoctls.Call(fd, request, ref a), expected);
    }

    private static (string, int, int) BadPin(Random rng, int fd, ulong leaseId)
    {
        var a = new LeaseIoctls.PinArgs { Version = 1, LeaseId = leaseId };
        var (o, l, rangeErrno) = RandomRange(rng, allowGood: true);
        (a.Offset, a.Length) = (o, l);
        int expected = rangeErrno;
        switch (rng.Next(3))
        {
            case 0:
                expected = EINVAL;
                uint mode = 0;
                Corrupt(rng, ref a.Version, ref mode, ref a.PinId, ref a.R1, ref a.R2, ref a.R3, ref a.R3);
                if (a.Version == 1 && a.PinId == 0 && a.R1 == 0 && a.R2 == 0 && a.R3 == 0) a.Reserved0 = 5; // the mode case: corrupt reserved0
                break;
            case 1 when rangeErrno == 0:
                a.LeaseId = UnknownId(rng, leaseId);
                expected = ENOENT;
                break;
            default:
                if (rangeErrno == 0) { a.Offset = 65536 + (ulong)rng.Next(16) * 4096; expected = EINVAL; } // outside the lease
                break;
        }
        return ($"PIN v{a.Version} r0 {a.Reserved0} lease {a.LeaseId} {a.Offset}+{a.Length} pin {a.PinId} r {a.R1},{a.R2},{a.R3}", LeaseIoctls.Call(fd, LeaseIoctls.Pin, ref a), expected);
    }

    private static (string, int, int) BadStatus(Random rng, int fd, ulong leaseId)
    {
        var a = new LeaseIoctls.StatusArgs { Version = 1, LeaseId = UnknownId(rng, leaseId) };
        int expected = ENOENT;
        if (rng.Next(2) == 0)
        {
            a.LeaseId = leaseId;
            expected = EINVAL;
            switch (rng.Next(4))
            {
                case 0: a.Version = 0; break;
                case 1: a.Reserved0 = 1; break;
                case 2: a.Reserved1 = (uint)rng.Next(1, 1000); break;
                default: a.R3 = 1; break;
            }
        }
        return ($"STATUS v{a.Version} r0 {a.Reserved0} lease {a.LeaseId} r1 {a.Reserved1} r3 {a.R3}", LeaseIoctls.Call(fd, LeaseIoctls.Status, ref a), expected);
    }

    private static (string, int, int) BadList(Random rng, int fd)
    {
        var a = new LeaseIoctls.ListPage { Version = 1 };
        switch (rng.Next(4))
        {
            case 0: a.Version = (uint)rng.Next(2, 1000); break;
            case 1: a.Flags = 1u << rng.Next(1, 32); break;
            case 2: a.R1 = 1; break;
            default: a.R3 = (ulong)rng.NextInt64(1, long.MaxValue); break;
        }
        return ($"LIST v{a.Version} flags 0x{a.Flags:x} r {a.R1},{a.R3}", LeaseIoctls.Call(fd, LeaseIoctls.List, ref a), EINVAL);
    }

    /// <summary>
    /// PMEMFS_IOC_REGION: a bad version or any nonzero out or reserved byte is EINVAL; a clean
    /// struct names the mount's image (and changes nothing: the loop checks the lease list).
    /// </summary>
    private static unsafe (string, int, int) BadRegion(Random rng, int fd, string image)
    {
        const uint Region = 0xD000504A;
        var buffer = new byte[4096];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, 1);
        string what = "REGION clean";
        if (rng.Next(4) != 0)
        {
            int at = rng.Next(2) == 0 ? 0 : rng.Next(4, 4096); // the version, or any out/reserved byte (kind, size, uuid, path...)
            if (at == 0) BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)rng.Next(2, int.MaxValue));
            else buffer[at] = (byte)rng.Next(1, 256);
            what = $"REGION with byte {at} set";
        }
        fixed (byte* p = buffer)
        {
            int rc = Native.ioctl(fd, Region, p);
            if (what == "REGION clean" && rc == 0)
            {
                string path = System.Text.Encoding.UTF8.GetString(buffer.AsSpan(64, 4032)).TrimEnd('\0');
                if (path != image) return ($"REGION named {path}, not {image}", -1, 0);
            }
            return (what, rc < 0 ? Native.Errno : 0, what == "REGION clean" ? 0 : EINVAL);
        }
    }

    /// <summary>
    /// Numbers of the 'P' family that the daemon does not serve (ENOTTY), and GET_MAP and
    /// PREPARE_WRITE and BMAP with a zeroed struct (version 0: EINVAL before anything is looked at).
    /// </summary>
    private const uint Bmap = 0xD000504B; // PMEMFS_IOC_BMAP

    private static unsafe (string, int, int) UnknownNumber(Random rng, int fd)
    {
        uint[] numbers = [LeaseIoctls.GetMap, LeaseIoctls.PrepareWrite, Bmap, 0xC040504A, 0xC0405042 ^ (1u << 16) /* ACQUIRE's number with another size */, 0x8004504F];
        uint n = numbers[rng.Next(numbers.Length)];
        var buffer = new byte[4096];
        fixed (byte* p = buffer)
        {
            int rc = Native.ioctl(fd, n, p);
            int expected = n is LeaseIoctls.GetMap or LeaseIoctls.PrepareWrite or Bmap ? EINVAL : ENOTTY;
            return ($"ioctl 0x{n:X8}", rc < 0 ? Native.Errno : 0, expected);
        }
    }
}
