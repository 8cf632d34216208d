using System.Buffers.Binary;
using System.Text.Json;

namespace PmemFs.Mount.Tests;

/// <summary>
/// `pmemfs rmap MOUNT` on a real mount (PMEMFS_IOC_RMAP): files with data, an xattr and a
/// reflinked copy give the same owners, reference counts and paths as `pmemfs rmap IMAGE` on the
/// unmounted image; a path on the mount and the mounted image itself give the same; --range keeps
/// the rows that overlap it; a caller without CAP_SYS_ADMIN is refused (EPERM); malformed
/// structs get EINVAL (EOVERFLOW for an overflowing range) and the daemon goes on.
/// </summary>
public sealed class RmapTest
{
    private const uint Rmap = 0xD000504D; // _IOWR('P', 0x4D, struct pmemfs_rmap), from pmemfs.h
    private const int EINVAL = 22, EOVERFLOW = 75;

    private static (string Owners, string Shared, JsonElement[] Rows) Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        return (root.GetProperty("owners").GetRawText(), root.GetProperty("shared").GetRawText(),
            root.GetProperty("owners").EnumerateArray().Select(e => e.Clone()).ToArray());
    }

    private static string? PathOf(JsonElement o) => o.GetProperty("path").ValueKind == JsonValueKind.String ? o.GetProperty("path").GetString() : null;

    [SkippableFact]
    public void TheMountedFormGivesTheOfflineRowsAndOnlyRootMayAsk()
    {
        using var fs = new MountedFileSystem("256M");
        Directory.CreateDirectory(fs["d"]);
        var rng = new Random(5);
        var a = new byte[300 * 1024 + 100];
        rng.NextBytes(a);
        File.WriteAllBytes(fs["d/a"], a);
        Native.SetXattr(fs["d/a"], "user.note", new byte[300]);
        File.WriteAllBytes(fs["b"], new byte[64 * 1024]);
        Proc.Check(fs.Cli, "reflink", fs["d/a"], fs["c"]);
        // c shares two of its own blocks with itself: three owners of a's first blocks.
        Proc.Check(fs.Cli, "reflink", fs["c"], fs["c"], "--range", "0:8K:512K");
        // More rows than one page of the ioctl (63) holds.
        Directory.CreateDirectory(fs["many"]);
        for (int i = 0; i < 100; i++) File.WriteAllBytes(fs[$"many/f{i:D3}"], new byte[4096 + i]);

        var r = Proc.Check(fs.Cli, "rmap", fs.Path, "--json");
        var (owners, shared, rows) = Parse(r.Out);
        Assert.Contains(rows, o => o.GetProperty("kind").GetString() == "xattr" && PathOf(o) == "/d/a");
        Assert.Contains(rows, o => o.GetProperty("kind").GetString() == "superblock" && o.GetProperty("physical").GetInt64() == 0);
        Assert.Equal(3, rows.Count(o => o.TryGetProperty("refs", out var n) && n.GetInt32() == 3));
        Assert.Contains(rows, o => PathOf(o) == "/c" && o.GetProperty("file_offset").GetInt64() == 512 * 1024);
        Assert.NotEqual("[]", shared);
        Assert.InRange(rows.Length, 110, 130); // two pages of the ioctl
        Assert.Equal(100, rows.Count(o => PathOf(o)?.StartsWith("/many/f", StringComparison.Ordinal) == true));
        Assert.Equal(fs.Path, JsonDocument.Parse(r.Out).RootElement.GetProperty("mount").GetString());

        // A path on the mount, and the mounted image (found in the mount table), give the same rows.
        Assert.Equal(owners, Parse(Proc.Check(fs.Cli, "rmap", fs["d/a"], "--json").Out).Owners);
        var viaImage = Proc.Check(fs.Cli, "rmap", fs.Image, "--json");
        Assert.Equal(owners, Parse(viaImage.Out).Owners);
        Assert.Contains("reading the mount", viaImage.Err, StringComparison.Ordinal);
        var text = Proc.Check(fs.Cli, "rmap", fs.Path).Out;
        Assert.Contains("SHARED", text, StringComparison.Ordinal);
        Assert.Contains("x3", text, StringComparison.Ordinal);
        Assert.Contains("shared: ", text, StringComparison.Ordinal);

        // --range: b's data alone; free space has no owner.
        var bRow = rows.Single(o => PathOf(o) == "/b");
        long bPhys = bRow.GetProperty("physical").GetInt64();
        var one = Parse(Proc.Check(fs.Cli, "rmap", fs.Path, "--range", $"{bPhys + 4096}:1", "--json").Out).Rows;
        Assert.Equal("/b", PathOf(Assert.Single(one)));
        long end = rows.Where(o => o.GetProperty("kind").GetString() is "data" or "xattr").Max(o => o.GetProperty("physical").GetInt64() + o.GetProperty("length").GetInt64());
        Assert.Contains("no owners in that range", Proc.Check(fs.Cli, "rmap", fs.Path, "--range", $"{end}:64K").Out, StringComparison.Ordinal);

        // Only a caller with CAP_SYS_ADMIN may see where every file lives.
        var nobody = Proc.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", fs.Cli, "rmap", fs.Path, "--json"]);
        Assert.False(nobody.Ok, nobody.ToString());
        Assert.Contains("CAP_SYS_ADMIN", nobody.Err, StringComparison.Ordinal);

        FuzzTheStruct(fs.Path, seed: 3, rounds: 2000);
        Assert.True(fs.IsMounted, "the daemon went away");
        Assert.Equal(owners, Parse(Proc.Check(fs.Cli, "rmap", fs.Path, "--json").Out).Owners);

        // Offline, on the unmounted image: the same owners, counts and paths, and the same shared list.
        fs.Unmount();
        var offline = Parse(Proc.Check(fs.Cli, "rmap", fs.Image, "--json").Out);
        Assert.Equal(owners, offline.Owners);
        Assert.Equal(shared, offline.Shared);
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, fsck.ToString());
    }

    /// <summary>
    /// Random single faults in a struct pmemfs_rmap, each with the errno pmemfs.h gives; the
    /// continuation fields (count, more, entries) are ignored, so garbage there is answered.
    /// </summary>
    private static unsafe void FuzzTheStruct(string mount, int seed, int rounds)
    {
        int fd = Native.Open(mount, Native.O_RDONLY | Native.O_DIRECTORY);
        try
        {
            var rng = new Random(seed);
            var seen = new int[9];
            var buffer = new byte[4096];
            for (int round = 0; round < rounds; round++)
            {
                Array.Clear(buffer);
                var b = buffer.AsSpan();
                BinaryPrimitives.WriteUInt32LittleEndian(b, 1);                  // version
                BinaryPrimitives.WriteUInt64LittleEndian(b[16..], ulong.MaxValue); // length: to the end
                int kind = rng.Next(9);
                seen[kind]++;
                int expected = EINVAL;
                string what;
                switch (kind)
                {
                    case 0:
                        BinaryPrimitives.WriteUInt32LittleEndian(b, rng.Next(2) == 0 ? 0 : (uint)rng.Next(2, int.MaxValue));
                        what = "version";
                        break;
                    case 1: BinaryPrimitives.WriteUInt32LittleEndian(b[4..], 1u << rng.Next(32)); what = "flags"; break;
                    case 2: BinaryPrimitives.WriteUInt32LittleEndian(b[60..], 1u << rng.Next(32)); what = "reserved0"; break;
                    case 3:
                    {
                        uint[] bad = [3, 15, 23, 31, 33, (uint)rng.Next(34, int.MaxValue)];
                        BinaryPrimitives.WriteUInt32LittleEndian(b[48..], bad[rng.Next(bad.Length)]);
                        what = "cursor kind";
                        break;
                    }
                    case 4:
                        BinaryPrimitives.WriteUInt64LittleEndian(b[(24 + 8 * rng.Next(3))..], 1UL << rng.Next(64));
                        what = "cursor field without a kind";
                        break;
                    case 5:
                        BinaryPrimitives.WriteUInt32LittleEndian(b[48..], 1);
                        BinaryPrimitives.WriteUInt64LittleEndian(b[(rng.Next(2) == 0 ? 24 : 40)..], (ulong)long.MaxValue + 1 + (ulong)rng.Next(1000));
                        what = "cursor offset past INT64_MAX";
                        break;
                    case 6:
                        switch (rng.Next(3))
                        {
                            case 0: BinaryPrimitives.WriteUInt64LittleEndian(b[16..], 0); what = "length 0"; break;
                            case 1: BinaryPrimitives.WriteUInt64LittleEndian(b[8..], (ulong)long.MaxValue + 1 + (ulong)rng.Next(1000)); what = "offset past INT64_MAX"; break;
                            default: BinaryPrimitives.WriteUInt64LittleEndian(b[16..], (ulong)long.MaxValue + 1 + (ulong)rng.Next(1000)); what = "length past INT64_MAX"; break;
                        }
                        break;
                    case 7:
                    {
                        ulong o = (ulong)rng.NextInt64(1, 1L << 40);
                        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], o);
                        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], (ulong)long.MaxValue - o + 1 + (ulong)rng.Next(100));
                        expected = EOVERFLOW;
                        what = "the end overflows";
                        break;
                    }
                    default:
                        // Garbage where the last page came back: count, more and the rows.
                        BinaryPrimitives.WriteUInt32LittleEndian(b[52..], (uint)rng.Next());
                        BinaryPrimitives.WriteUInt32LittleEndian(b[56..], (uint)rng.Next());
                        rng.NextBytes(b[64..]);
                        expected = 0;
                        what = "garbage in count, more and entries";
                        break;
                }
                int errno;
                fixed (byte* p = buffer) errno = Native.ioctl(fd, Rmap, p) < 0 ? Native.Errno : 0;
                Assert.True(errno == expected, $"round {round} (seed {seed}): {what}: errno {errno}, expected {expected}");
                if (expected == 0) Assert.InRange(BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(52)), 1u, 63u);
            }
            Assert.All(seen, n => Assert.True(n > 0));
        }
        finally { Native.close(fd); }
    }
}
