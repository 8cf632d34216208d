using System.Text.Json;

namespace PmemFs.Mount.Tests;

/// <summary>
/// `pmemfs bmap FILE` on a real mount: the forward map covers the file in order, with holes,
/// unwritten and written pieces where xfs_io put them, and the physical offsets are true: the
/// image holds the file's bytes there. Any user who can open the file may ask. Offline on the
/// unmounted image (--path) it gives the same map, and `pmemfs rmap IMAGE` names /f as the owner
/// of exactly those pieces.
/// </summary>
public sealed class BmapTest
{
    [SkippableFact]
    public void TheMapCoversTheFileAndItsPhysicalOffsetsHoldTheFilesBytes()
    {
        Skip.If(Proc.Which("xfs_io") is null, "xfs_io (xfsprogs) is missing");
        using var fs = new MountedFileSystem("256M");
        string path = fs["f"];
        File.WriteAllBytes(path, []);
        Proc.Check(fs.Cli, "chattr", "+dax", path);
        Proc.Check("xfs_io", "-c", "pwrite -S 0x5a 0 3m", "-c", "pwrite -S 0xa5 5m 64k", "-c", "falloc 6m 1m", path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var r = Proc.Check(fs.Cli, "bmap", path, "--json");
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(7 << 20, doc.RootElement.GetProperty("size").GetInt64());
        var extents = doc.RootElement.GetProperty("extents").EnumerateArray().ToList();
        long covered = 0;
        var kinds = new List<string>();
        var data = File.ReadAllBytes(path);
        using var image = File.OpenHandle(fs.Image, FileMode.Open, FileAccess.Read);
        foreach (var e in extents)
        {
            long logical = e.GetProperty("logical").GetInt64(), length = e.GetProperty("length").GetInt64();
            var flags = e.GetProperty("flags").EnumerateArray().Select(f => f.GetString()!).ToList();
            Assert.Equal(covered, logical);
            covered += length;
            if (flags.Contains("hole"))
            {
                Assert.Equal(JsonValueKind.Null, e.GetProperty("physical").ValueKind);
                kinds.Add("hole");
                continue;
            }
            long physical = e.GetProperty("physical").GetInt64();
            if (flags.Contains("unwritten")) { kinds.Add("unwritten"); continue; }
            kinds.Add("written");
            var there = new byte[length];
            RandomAccess.Read(image, there, physical);
            Assert.True(there.AsSpan().SequenceEqual(data.AsSpan((int)logical, (int)length)), $"the image at {physical} does not hold the file's bytes [{logical}, +{length})");
        }
        Assert.Equal(7L << 20, covered);
        Assert.Equal(["written", "hole", "written", "hole", "unwritten"], kinds.Where((k, i) => i == 0 || k != kinds[i - 1]));
        Assert.Contains("2mib-aligned", extents[0].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));

        // The text form, and a user who may read the file but not the region.
        Assert.Contains("hole", Proc.Check(fs.Cli, "bmap", path).Out, StringComparison.Ordinal);
        // setpriv is util-linux, which every Debian system has: no skip here.
        var nobody = Proc.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", fs.Cli, "bmap", path, "--json"]);
        Assert.True(nobody.Ok, nobody.ToString());
        Assert.Equal(r.Out, nobody.Out);
        var dir = Proc.Run(fs.Cli, "bmap", fs.Path);
        Assert.False(dir.Ok);
        Assert.Contains("not a regular file", dir.Err, StringComparison.Ordinal);

        // Offline, on the unmounted image: the same extents.
        var mounted = doc.RootElement.GetProperty("extents").GetRawText();
        var whileMounted = Proc.Run(fs.Cli, "bmap", fs.Image, "--path", "/f");
        Assert.False(whileMounted.Ok);
        Assert.Contains("in use by a mounted PmemFs daemon", whileMounted.Err, StringComparison.Ordinal);
        fs.Unmount();
        using (var offline = JsonDocument.Parse(Proc.Check(fs.Cli, "bmap", fs.Image, "--path", "/f", "--json").Out))
        {
            Assert.Equal(7 << 20, offline.RootElement.GetProperty("size").GetInt64());
            Assert.Equal(mounted, offline.RootElement.GetProperty("extents").GetRawText());
        }
        var missing = Proc.Run(fs.Cli, "bmap", fs.Image, "--path", "/nope");
        Assert.False(missing.Ok);
        Assert.Contains("no such file in the image", missing.Err, StringComparison.Ordinal);

        // The reverse map names /f as the owner of exactly its allocated pieces, at their file offsets.
        using var rmap = JsonDocument.Parse(Proc.Check(fs.Cli, "rmap", fs.Image, "--json").Out);
        var owners = rmap.RootElement.GetProperty("owners").EnumerateArray().ToList();
        var ofF = owners.Where(o => o.GetProperty("path").ValueKind == JsonValueKind.String && o.GetProperty("path").GetString() == "/f")
            .Select(o => (o.GetProperty("physical").GetInt64(), o.GetProperty("length").GetInt64(), o.GetProperty("file_offset").GetInt64())).ToList();
        var allocated = extents.Where(e => e.GetProperty("physical").ValueKind == JsonValueKind.Number)
            .Select(e => (e.GetProperty("physical").GetInt64(), e.GetProperty("length").GetInt64(), e.GetProperty("logical").GetInt64())).ToList();
        Assert.Equal(allocated.Sum(a => a.Item2), ofF.Sum(o => o.Item2));
        foreach (var (phys, len, logical) in ofF)
            Assert.Contains(allocated, a => a.Item1 <= phys && phys + len <= a.Item1 + a.Item2 && logical - a.Item3 == phys - a.Item1);
        Assert.Contains(owners, o => o.GetProperty("kind").GetString() == "superblock" && o.GetProperty("physical").GetInt64() == 0);
        long firstData = allocated[0].Item1;
        using var one = JsonDocument.Parse(Proc.Check(fs.Cli, "rmap", fs.Image, "--range", $"{firstData}:1", "--json").Out);
        var only = Assert.Single(one.RootElement.GetProperty("owners").EnumerateArray());
        Assert.Equal("/f", only.GetProperty("path").GetString());
        Assert.Equal("data", only.GetProperty("kind").GetString());
    }
}
