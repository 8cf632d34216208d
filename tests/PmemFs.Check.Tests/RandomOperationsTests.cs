using PmemFs.Engine;
using Xunit.Abstractions;

namespace PmemFs.Check.Tests;

/// <summary>
/// Whatever sequence of operations the engine runs, fsck finds nothing wrong: after a clean
/// unmount, and on copies taken mid-way as if the process had died (replay, then check).
/// </summary>
public sealed class RandomOperationsTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomOperationsLeaveACleanImage(int seed)
    {
        using var img = new TestImage(64L << 20);
        var fs = img.Engine;
        var who = Credentials.Root;
        var rng = new Random(seed);
        var dirs = new List<ulong> { TestImage.Root };
        var files = new List<ulong>();
        var held = new List<ulong>(); // inodes the "kernel" keeps open: unlinking them leaves orphans
        int crashChecks = 0, orphansSeen = 0;
        var outcomes = new Dictionary<string, int>();

        // A real entry of a live directory (name and inode), or null when it is empty or gone.
        (ulong Dir, byte[] Name, ulong Ino, bool IsDir)? AnyEntry()
        {
            ulong d = dirs[rng.Next(dirs.Count)];
            var entries = new List<FileSystem.DirectoryItem>();
            if (fs.ReadDirectory(d, 2, e => { entries.Add(e); return true; }) != Errno.Ok || entries.Count == 0) return null;
            var pick = entries[rng.Next(entries.Count)];
            return (d, pick.Name, pick.Ino, pick.Type == 4);
        }

        for (int op = 0; op < 1500; op++)
        {
            ulong dir = dirs[rng.Next(dirs.Count)];
            byte[] name = TestImage.N($"n{rng.Next(40)}");
            int kind = rng.Next(18);
            Errno result = Errno.Ok;
            ulong file = files.Count > 0 ? files[rng.Next(files.Count)] : 0;
            long off = rng.Next(3) == 0 ? rng.NextInt64(0, 4L << 20) : rng.Next(0, 64 * 1024);
            int len = rng.Next(2) == 0 ? rng.Next(1, 9000) : rng.Next(1, 200_000);
            var entry = kind is >= 11 and <= 15 ? AnyEntry() : null;
            switch (kind)
            {
                case 0 or 1:
                    result = fs.Create(dir, name, TestImage.FileMode, who, out var fa);
                    if (result == Errno.Ok) files.Add(fa.Ino);
                    break;
                case 2:
                    result = fs.MakeDirectory(dir, name, TestImage.DirMode, who, out var da);
                    if (result == Errno.Ok) dirs.Add(da.Ino);
                    break;
                case 3:
                    result = fs.Symlink(dir, name, TestImage.N(new string('t', rng.Next(1, 4096))), who, out _);
                    break;
                case 4 or 5 or 6: result = fs.Write(file, off, TestImage.Pattern(len, op), who, out _); break;
                case 7: result = fs.SetAttr(file, new SetAttrRequest { Fields = SetAttrFields.Size, Size = rng.NextInt64(0, 300_000) }, who, out _); break;
                case 8: result = fs.Fallocate(file, rng.Next(2) == 0 ? FallocateMode.Default : FallocateMode.KeepSize, off, len, who); break;
                case 9: result = fs.Fallocate(file, FallocateMode.KeepSize | FallocateMode.PunchHole, off, len, who); break;
                case 10: result = fs.Fallocate(file, FallocateMode.ZeroRange | (rng.Next(2) == 0 ? FallocateMode.KeepSize : 0), off, len, who); break;
                case 11 when entry is { IsDir: false } e: result = fs.Link(e.Ino, dir, name, out _); break;
                case 12 when entry is { } e:
                    if (!e.IsDir && rng.Next(4) == 0) { fs.Retain(e.Ino); held.Add(e.Ino); }
                    result = e.IsDir ? fs.RemoveDirectory(e.Dir, e.Name) : fs.Unlink(e.Dir, e.Name);
                    break;
                case 13 or 14 when entry is { } e:
                    result = fs.Rename(e.Dir, e.Name, dir, name, rng.Next(3) switch { 0 => RenameFlags.None, 1 => RenameFlags.NoReplace, _ => RenameFlags.Exchange });
                    break;
                case 15 when entry is { } e:
                    result = rng.Next(3) == 0
                        ? fs.RemoveXattr(e.Ino, TestImage.N($"user.x{rng.Next(4)}"))
                        : fs.SetXattr(e.Ino, TestImage.N($"user.x{rng.Next(4)}"), TestImage.Pattern(rng.Next(0, 9000), op), XattrSetFlags.None);
                    break;
                case 16 when held.Count > 0:
                    int h = rng.Next(held.Count);
                    fs.Forget(held[h]); // the last reference to an unlinked inode frees it
                    held.RemoveAt(h);
                    break;
                default:
                    continue;
            }
            string key = $"{kind}:{result.Value}";
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;

            if (op % 250 == 249)
            {
                using var crash = img.CrashCopy();
                var report = crash.Check();
                Assert.True(report.IsClean, $"crash copy after op {op}:\n{ReportAssert.Render(report)}");
                orphansSeen += report.Stats.Orphans;
                crashChecks++;
            }
        }
        img.Unmount();
        var final = img.Check();
        ReportAssert.Clean(final);
        output.WriteLine($"seed {seed}: {crashChecks} crash copies clean ({orphansSeen} orphans seen); final {final.Stats}");
        output.WriteLine("outcomes (op:errno=count): " + string.Join(" ", outcomes.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")));
    }
}
