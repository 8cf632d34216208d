using System.Runtime.InteropServices;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Bad input to the flag ioctls through a real mount: thousands of random
/// PMEMFS_IOC_SET_FLAGS structs, FS_IOC_SETFLAGS words and unknown ioctl numbers. Each call
/// must answer what docs/flags.md says (checked against a small oracle of the rules), a refused
/// call must change nothing, the daemon must keep answering, and fsck must be clean after.
/// The struct is declared here from src/include/pmemfs.h, as an outside program would.
/// </summary>
public sealed unsafe partial class FlagIoctlFuzzTest
{
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private struct PmemFsInodeFlags
    {
        public uint Version, Reserved0;
        public ulong Set, Clear, Flags, State;
        public uint DaxMode, Granularity;
        public ulong Reserved1, Reserved2;
    }

    private const uint GetFlags = 0x80405040, SetFlags = 0xC0405041, FsIocSetFlags = 0x40086602;
    private const ulong Dax = 0x20, DaxImmutable = 0x40, All = 0x7F;
    private const int ENOTTY = 25, EOPNOTSUPP = 95;

    private enum Kind { WrittenFile, SparseFile, Directory }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, void* arg);

    [SkippableFact]
    public void RandomFlagIoctlsAnswerByTheRulesAndChangeNothingWhenRefused()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_IOCTL_FUZZ_SEED"), out int s) ? s : 5;
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_IOCTL_FUZZ_ROUNDS"), out int r) ? r : 3000;
        using var fs = new MountedFileSystem();
        var rng = new Random(seed);
        File.WriteAllBytes(fs["written"], new byte[64 * 1024]);
        using (var sparse = File.Create(fs["sparse"])) sparse.SetLength(64 * 1024);
        Directory.CreateDirectory(fs["dir"]);
        var targets = new[] { (fs["written"], Kind.WrittenFile), (fs["sparse"], Kind.SparseFile), (fs["dir"], Kind.Directory) };
        var fds = targets.Select(t => Native.Open(t.Item1, Native.O_RDONLY)).ToArray();
        var buffer = new byte[16384];
        int accepted = 0, refused = 0, foreign = 0;
        try
        {
            for (int round = 0; round < rounds; round++)
            {
                int which = rng.Next(targets.Length);
                int fd = fds[which];
                var kind = targets[which].Item2;
                ulong before = Get(fd);
                string what;
                int rc, errno, expected;
                ulong after;
                switch (rng.Next(10))
                {
                    case < 6:
                    {
                        var a = RandomArguments(rng);
                        what = $"SET version={a.Version} r0={a.Reserved0} set=0x{a.Set:x} clear=0x{a.Clear:x} r1={a.Reserved1} r2={a.Reserved2}";
                        expected = Oracle(a, before, kind, out ulong wanted); // before the call: the reply overwrites the struct
                        rc = ioctl(fd, SetFlags, &a);
                        errno = rc < 0 ? Native.Errno : 0;
                        after = Get(fd);
                        Assert.True(errno == expected, $"round {round}, {kind}, flags 0x{before:x}: {what}: errno {errno}, expected {expected}");
                        Assert.True(after == (errno == 0 ? wanted : before), $"round {round}, {kind}: {what}: flags 0x{after:x} after errno {errno}, expected 0x{(errno == 0 ? wanted : before):x}");
                        if (errno == 0) Assert.Equal(after, a.Flags); // the reply carries the new flags
                        break;
                    }
                    case < 9:
                    {
                        // A FS_IOC_SETFLAGS word: known bits (immutable 0x10, append 0x20, nodump 0x40,
                        // noatime 0x80, sync 0x8, dax 0x02000000), sometimes one PmemFs does not have.
                        uint[] known = [0x10, 0x20, 0x40, 0x80, 0x8, 0x02000000];
                        uint word = known.Where(_ => rng.Next(3) == 0).Aggregate(0u, (w, b) => w | b);
                        bool unknown = rng.Next(4) == 0;
                        // FS_SECRM_FL, FS_UNRM_FL, FS_COMPR_FL, FS_EXTENT_FL, FS_NOCOW_FL, FS_PROJINHERIT_FL.
                        uint[] foreignBits = [0x1, 0x2, 0x4, 0x00080000, 0x00800000, 0x20000000];
                        if (unknown) word |= foreignBits[rng.Next(foreignBits.Length)];
                        what = $"FS_IOC_SETFLAGS 0x{word:x}";
                        rc = ioctl(fd, FsIocSetFlags, &word);
                        errno = rc < 0 ? Native.Errno : 0;
                        after = Get(fd);
                        if (unknown) Assert.True(errno is EOPNOTSUPP or Native.EINVAL, $"round {round}: {what}: errno {errno}");
                        else
                        {
                            ulong flags = (word & 0x10) != 0 ? 1UL : 0;
                            flags |= (word & 0x20) != 0 ? 2UL : 0;
                            flags |= (word & 0x80) != 0 ? 4UL : 0;
                            flags |= (word & 0x8) != 0 ? 8UL : 0;
                            flags |= (word & 0x40) != 0 ? 16UL : 0;
                            flags |= (word & 0x02000000) != 0 ? Dax : 0;
                            var a = new PmemFsInodeFlags { Version = 1, Set = flags, Clear = (All & ~DaxImmutable) & ~flags };
                            expected = Oracle(a, before, kind, out ulong wanted);
                            Assert.True(errno == expected, $"round {round}, {kind}, flags 0x{before:x}: {what}: errno {errno}, expected {expected}");
                            Assert.True(after == (errno == 0 ? wanted : before), $"round {round}: {what}: flags 0x{after:x}");
                        }
                        break;
                    }
                    default:
                    {
                        // An ioctl number PmemFs does not have, with a random direction and size: ENOTTY
                        // (or the kernel's own refusal of the size), never a crash or a change.
                        uint dir = (uint)rng.Next(4), size = (uint)rng.Next(0, 200), nr = (uint)rng.Next(256);
                        uint type = rng.Next(2) == 0 ? 'P' : 'Q';
                        uint cmd = dir << 30 | size << 16 | type << 8 | nr;
                        if (cmd is GetFlags or SetFlags) continue;
                        fixed (byte* p = buffer) rc = ioctl(fd, cmd, p);
                        errno = rc < 0 ? Native.Errno : 0;
                        after = Get(fd);
                        Assert.True(rc < 0, $"round {round}: ioctl 0x{cmd:x} succeeded");
                        Assert.True(errno is ENOTTY or Native.EINVAL or Native.EFAULT, $"round {round}: ioctl 0x{cmd:x}: errno {errno}");
                        Assert.Equal(before, after);
                        foreign++;
                        continue;
                    }
                }
                if (errno == 0) accepted++;
                else refused++;
            }
            Assert.True(accepted > rounds / 10 && refused > rounds / 10, $"the mix is lopsided: {accepted} accepted, {refused} refused");
            foreach (int fd in fds)
            {
                var clear = new PmemFsInodeFlags { Version = 1, Clear = All };
                Assert.Equal(0, ioctl(fd, SetFlags, &clear));
            }
        }
        finally
        {
            foreach (int fd in fds) Native.close(fd);
        }
        Assert.True(fs.IsMounted, "the daemon stopped answering:\n" + fs.LogTail());
        fs.Unmount();
        var check = fs.Fsck();
        Assert.True(check.Ok, "fsck after the fuzzing:\n" + check);
        Assert.True(foreign > 0);
    }

    private static ulong Get(int fd)
    {
        var a = new PmemFsInodeFlags();
        Assert.Equal(0, ioctl(fd, GetFlags, &a));
        Assert.Equal(1u, a.Version);
        return a.Flags;
    }

    private static PmemFsInodeFlags RandomArguments(Random rng)
    {
        ulong Mask() => rng.Next(8) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0x80) & (ulong)rng.Next(0x80);
        var a = new PmemFsInodeFlags
        {
            Version = rng.Next(10) == 0 ? (uint)rng.Next(0, 4) : 1,
            Reserved0 = rng.Next(20) == 0 ? (uint)rng.Next() : 0,
            Set = Mask(),
            Clear = Mask(),
            Reserved1 = rng.Next(20) == 0 ? 1UL : 0,
            Reserved2 = rng.Next(20) == 0 ? (ulong)rng.NextInt64() : 0,
        };
        if (rng.Next(3) != 0) a.Clear &= ~a.Set; // mostly well-formed
        return a;
    }

    /// <summary>docs/flags.md's answer for root (every capability, the owner) and an unmapped file.</summary>
    private static int Oracle(in PmemFsInodeFlags a, ulong old, Kind kind, out ulong wanted)
    {
        wanted = old;
        if (a.Version != 1 || a.Reserved0 != 0 || a.Reserved1 != 0 || a.Reserved2 != 0
            || ((a.Set | a.Clear) & ~All) != 0 || (a.Set & a.Clear) != 0)
            return Native.EINVAL;
        ulong now = (old | a.Set) & ~a.Clear;
        if ((a.Set & DaxImmutable) != 0 && (now & Dax) == 0) return Native.EINVAL; // rule 1
        if ((now & Dax) == 0) now &= ~DaxImmutable;
        ulong added = now & ~old;
        if ((added & DaxImmutable) != 0 && kind != Kind.WrittenFile) return Native.EINVAL; // rules 1 and 2
        wanted = now;
        return 0;
    }
}
