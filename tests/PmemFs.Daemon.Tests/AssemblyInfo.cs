using System.Runtime.Versioning;

// The daemon it tests is Linux-only.
[assembly: SupportedOSPlatform("linux")]
