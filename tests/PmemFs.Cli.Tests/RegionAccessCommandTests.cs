using System.Diagnostics;
using System.Text.Json;

namespace PmemFs.Cli.Tests;

/// <summary>
/// The region as the trust boundary, as the commands show it (docs/security.md): mkfs creates
/// images private whatever the umask and shares them only with a group it is given, warns about
/// an existing region others can open, never formats through a link to a file; info says who can
/// open the region; mount refuses what it must before opening anything. Run as root (CI);
/// the unprivileged side is in PmemFs.Mount.Tests.SecurityTest and tests/fstests pmemfs/012.
/// </summary>
public sealed class RegionAccessCommandTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupShared = Private | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
    private const UnixFileMode WorldReadable = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly TempImage _image = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("pmemfs-access-cli-").FullName;

    public void Dispose()
    {
        _image.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("000")]
    [InlineData("022")]
    [InlineData("0277")]
    public void MkfsCreatesAPrivateImageWhateverTheUmask(string umask)
    {
        // The umask belongs to the process: mkfs runs in a child that sets it.
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        string dll = Path.Combine(AppContext.BaseDirectory, "pmemfs.dll");
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "-c", $"umask {umask}; exec \"$@\"", "sh", dotnet, dll, "mkfs", _image.Path, "--size", "16M" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, output);
        Assert.Equal(Private, File.GetUnixFileMode(_image.Path));
        Assert.Contains("access:                     private: mode 0600", output, StringComparison.Ordinal);
    }

    [Fact]
    public void MkfsWithAGroupSharesTheRegionWithThatGroupOnly()
    {
        var r = Cli.Run("mkfs", _image.Path, "--size", "16M", "--group", "nogroup");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(GroupShared, File.GetUnixFileMode(_image.Path));
        Assert.Contains("group-shared: mode 0660", r.Out, StringComparison.Ordinal);
        Assert.Contains("group nogroup", r.Out, StringComparison.Ordinal);
        Assert.Equal("", r.Err);
    }

    [Fact]
    public void MkfsWithAnUnknownGroupCreatesNothing()
    {
        var r = Cli.Run("mkfs", _image.Path, "--size", "16M", "--group", "no-such-group-pmemfs");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("pmemfs: mkfs: --group no-such-group-pmemfs: no such group (create it with: groupadd no-such-group-pmemfs)", r.Err.TrimEnd());
        Assert.False(_image.Exists);
    }

    [Fact]
    public void MkfsOfAnExistingWorldReadableFileKeepsItsModeAndWarnsWithTheFix()
    {
        _image.WriteZeros(16 << 20);
        File.SetUnixFileMode(_image.Path, WorldReadable);
        var r = Cli.Run("mkfs", _image.Path, "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(WorldReadable, File.GetUnixFileMode(_image.Path));
        string warning = Assert.Single(r.ErrLines);
        Assert.StartsWith($"pmemfs: mkfs: warning: {_image.Path}: exposed: every user can read it (mode 0644", warning, StringComparison.Ordinal);
        Assert.Contains($"chmod 0600 {_image.Path}", warning, StringComparison.Ordinal);
        Assert.EndsWith("until then pmemfs mount refuses it", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void MkfsOfAnExistingGroupReadableFileSaysWhoCanOpenIt()
    {
        _image.WriteZeros(16 << 20);
        File.SetUnixFileMode(_image.Path, Private | UnixFileMode.GroupRead);
        var r = Cli.Run("mkfs", _image.Path, "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        string warning = Assert.Single(r.ErrLines);
        Assert.Contains("group-shared (mode 0640", warning, StringComparison.Ordinal);
        Assert.Contains($"if that is not meant: chmod 0600 {_image.Path}", warning, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void MkfsOfAnotherUsersFileWarnsThatAMountWouldRefuseIt()
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "needs root to give the file away");
        _image.WriteZeros(16 << 20);
        File.SetUnixFileMode(_image.Path, Private);
        Chown(_image.Path, "65534");
        var r = Cli.Run("mkfs", _image.Path, "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        string warning = Assert.Single(r.ErrLines);
        Assert.Contains("owned by nobody (uid 65534), not by root", warning, StringComparison.Ordinal);
        Assert.Contains($"chown root {_image.Path}", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void MkfsForceThroughASymlinkToAFileDestroysNothing()
    {
        _image.WriteRandom(16 << 20);
        string before = _image.Hash();
        string link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, _image.Path);
        var r = Cli.Run("mkfs", link, "--force", "--size", "16M");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"pmemfs: mkfs: {link}: is a symbolic link to {_image.Path} (a regular file of 16 MiB); mkfs does not format through a link to a file, even with --force: name the file itself (pmemfs mkfs {_image.Path} ...) if that is the one to overwrite",
            r.Err.TrimEnd());
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void MkfsThroughADanglingSymlinkCreatesNothing()
    {
        string link = Path.Combine(_dir, "dangling");
        File.CreateSymbolicLink(link, _image.Path);
        var r = Cli.Run("mkfs", link, "--size", "16M");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("which does not exist; mkfs does not create an image through a link", r.Err, StringComparison.Ordinal);
        Assert.False(_image.Exists);
    }

    [Theory]
    [InlineData("/dev/null")]
    [InlineData("fifo")]
    [InlineData("dir")]
    public async Task MkfsInfoFsckAndMountRefuseWhatIsNotARegionAtOnce(string name)
    {
        string path = name.StartsWith('/') ? name : Path.Combine(_dir, name);
        if (name == "fifo") using (var p = Process.Start("mkfifo", [path])!) p.WaitForExit();
        if (name == "dir") Directory.CreateDirectory(path);
        foreach (string[] args in new[]
        {
            new[] { "mkfs", path, "--force" },
            ["fsck", path],
            ["info", path],
            ["mount", "-f", path, _dir],
            ["mount", "-f", "-o", "ro", path, _dir],
        })
        {
            var run = Task.Run(() => Cli.Run(args));
            Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20))) == run, $"pmemfs {string.Join(' ', args)} blocked");
            var r = await run;
            Assert.NotEqual(0, r.ExitCode);
            Assert.Matches("is a directory|neither a regular file nor a device-DAX|not a device-DAX device|is a FIFO|not a PmemFs mount", r.Err);
        }
    }

    [Fact]
    public void InfoSaysWhoCanOpenTheRegion()
    {
        Cli.Mkfs(_image, "16M");
        var text = Cli.Run("info", _image.Path);
        Assert.Contains("state:                      private: only root (the owner) can open the region", text.Out, StringComparison.Ordinal);
        Assert.Contains("mode:                       0600 (rw-------)", text.Out, StringComparison.Ordinal);
        Assert.Equal("private", AccessOf(_image.Path).GetProperty("state").GetString());

        File.SetUnixFileMode(_image.Path, Private | UnixFileMode.GroupRead);
        Assert.Contains("state:                      group-shared: root (the owner) and members of group root can open the region", Cli.Run("info", _image.Path).Out, StringComparison.Ordinal);
        Assert.Equal("group-shared", AccessOf(_image.Path).GetProperty("state").GetString());

        File.SetUnixFileMode(_image.Path, WorldReadable);
        var exposed = Cli.Run("info", _image.Path);
        Assert.Contains("state:                      exposed: every user can read the region", exposed.Out, StringComparison.Ordinal);
        Assert.Contains($"fix:                        chmod 0600 {_image.Path}", exposed.Out, StringComparison.Ordinal);
        var json = AccessOf(_image.Path);
        Assert.Equal("exposed", json.GetProperty("state").GetString());
        Assert.Equal("0644", json.GetProperty("mode").GetString());
        Assert.Equal(0u, json.GetProperty("ownerUid").GetUInt32());
    }

    [Fact]
    public void MountRefusesAnExposedRegionBeforeOpeningIt()
    {
        Cli.Mkfs(_image, "16M");
        File.SetUnixFileMode(_image.Path, WorldReadable);
        string before = _image.Hash();
        var r = Cli.Run("mount", "-f", _image.Path, _dir);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{_image.Path}: exposed: every user can read it (mode 0644, owner root, group root), and it holds every file's data and metadata; make it private: chmod 0600 {_image.Path}", r.Err, StringComparison.Ordinal);
        Assert.Contains("-o allow_exposed_region mounts it anyway", r.Err, StringComparison.Ordinal);
        Assert.Equal(before, _image.Hash());
    }

    [SkippableFact]
    public void MountRefusesAnImageFileOwnedByAnotherUser()
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "needs root to give the file away");
        Cli.Mkfs(_image, "16M");
        Chown(_image.Path, "65534");
        var r = Cli.Run("mount", "-f", _image.Path, _dir);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("owned by nobody (uid 65534), not by root who mounts it", r.Err, StringComparison.Ordinal);
    }

    private static JsonElement AccessOf(string image)
    {
        var r = Cli.Run("info", "--json", image);
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.Out).RootElement.GetProperty("access").Clone();
    }

    private static void Chown(string path, string owner)
    {
        using var p = Process.Start("chown", [owner, path])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
