using System.Text.Json;

namespace PmemFs.Mount.Tests;

/// <summary>
/// `pmemfs bmap FILE` on a real mount: the forward map covers the file in order, with holes,
/// unwritten and written pieces where xfs_io put them, and the physical offsets are true: the
/// image holds the file's bytes there. Any user who can open the file may ask. Offline on the
/// unmounted image (--path) it gives the same map.
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
        if (Proc.Which("setpriv") is not null)
        {
            var nobody = Proc.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", fs.Cli, "bmap", path, "--json"]);
            Assert.True(nobody.Ok, nobody.ToString());
            Assert.Equal(r.Out, nobody.Out);
        }
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
    }
}
