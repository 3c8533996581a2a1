/*
 * Compiles one SPIR-V compute shader on the first Vulkan device whose name contains a given
 * text, and prints what the driver says of the compiled pipeline through
 * VK_KHR_pipeline_executable_properties (registers, local memory, ...): the facts a profiler
 * would give about a WGSL kernel, taken from the SPIR-V Dawn generates for it (dump_shaders).
 *
 *   vk-pipeline-stats FILE.spv BINDINGS [DEVICE-NAME-PART]
 *   BINDINGS: one letter per binding of set 0, u = uniform buffer, s = storage buffer.
 *
 * Build: gcc -O2 -o vk-pipeline-stats vk-pipeline-stats.c -lvulkan (Vulkan headers 1.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

/* VK_KHR_shader_maximal_reconvergence (Dawn's SPIR-V asks for it) postdates Debian 12's headers. */
#ifndef VK_KHR_shader_maximal_reconvergence
#define VK_KHR_SHADER_MAXIMAL_RECONVERGENCE_EXTENSION_NAME "VK_KHR_shader_maximal_reconvergence"
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_MAXIMAL_RECONVERGENCE_FEATURES_KHR ((VkStructureType)1000434000)
typedef struct {
  VkStructureType sType;
  void *pNext;
  VkBool32 shaderMaximalReconvergence;
} VkPhysicalDeviceShaderMaximalReconvergenceFeaturesKHR;
#endif

#define CHECK(x, what)                                                   \
  do {                                                                   \
    VkResult r_ = (x);                                                   \
    if (r_ != VK_SUCCESS) {                                              \
      fprintf(stderr, "%s failed: VkResult %d\n", what, (int)r_);        \
      exit(1);                                                           \
    }                                                                    \
  } while (0)

static unsigned char *readAll(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n);
  if (fread(b, 1, *n, f) != *n) { fprintf(stderr, "short read %s\n", path); exit(1); }
  fclose(f);
  return b;
}

static VkPhysicalDevice pickDevice(VkInstance inst, const char *part) {
  uint32_t n = 0;
  CHECK(vkEnumeratePhysicalDevices(inst, &n, NULL), "vkEnumeratePhysicalDevices");
  VkPhysicalDevice *all = calloc(n, sizeof *all);
  CHECK(vkEnumeratePhysicalDevices(inst, &n, all), "vkEnumeratePhysicalDevices");
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(all[i], &p);
    if (!part || strstr(p.deviceName, part)) {
      printf("device: %s (driver %u)\n", p.deviceName, p.driverVersion);
      return all[i];
    }
  }
  fprintf(stderr, "no Vulkan device named like '%s'\n", part ? part : "");
  exit(1);
}

static void printStat(const VkPipelineExecutableStatisticKHR *s) {
  printf("  %s = ", s->name);
  switch (s->format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: printf("%s", s->value.b32 ? "true" : "false"); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: printf("%lld", (long long)s->value.i64); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: printf("%llu", (unsigned long long)s->value.u64); break;
    default: printf("%g", s->value.f64);
  }
  printf("   (%s)\n", s->description);
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s FILE.spv BINDINGS [DEVICE-NAME-PART]\n", argv[0]); return 2; }
  size_t size;
  unsigned char *code = readAll(argv[1], &size);
  const char *binds = argv[2];
  VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO, NULL, "vk-pipeline-stats", 1, NULL, 0, VK_API_VERSION_1_3};
  VkInstanceCreateInfo ici = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, NULL, 0, &app, 0, NULL, 0, NULL};
  VkInstance inst;
  CHECK(vkCreateInstance(&ici, NULL, &inst), "vkCreateInstance");
  VkPhysicalDevice pd = pickDevice(inst, argc > 3 ? argv[3] : NULL);

  /* The features Dawn's SPIR-V relies on, as far as the device has them. */
  VkPhysicalDeviceShaderMaximalReconvergenceFeaturesKHR recon = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_MAXIMAL_RECONVERGENCE_FEATURES_KHR};
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exe = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR, &recon};
  VkPhysicalDeviceVulkan13Features f13 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES, &exe};
  VkPhysicalDeviceVulkan12Features f12 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &f13};
  VkPhysicalDeviceVulkan11Features f11 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, &f12};
  VkPhysicalDeviceFeatures2 f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f11};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  if (!exe.pipelineExecutableInfo) { fprintf(stderr, "the device has no pipelineExecutableInfo\n"); return 1; }

  const char *wanted[] = {VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME,
                          VK_KHR_SHADER_MAXIMAL_RECONVERGENCE_EXTENSION_NAME};
  const char *exts[2];
  uint32_t next = 0, have = 0;
  CHECK(vkEnumerateDeviceExtensionProperties(pd, NULL, &have, NULL), "extensions");
  VkExtensionProperties *ep = calloc(have, sizeof *ep);
  CHECK(vkEnumerateDeviceExtensionProperties(pd, NULL, &have, ep), "extensions");
  for (int w = 0; w < 2; w++)
    for (uint32_t i = 0; i < have; i++)
      if (!strcmp(ep[i].extensionName, wanted[w])) exts[next++] = wanted[w];
  if (next < 2) recon.pNext = NULL, exe.pNext = NULL;

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, NULL, 0, 0, 1, &prio};
  VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &f2, 0, 1, &qci, 0, NULL, next, exts, NULL};
  VkDevice dev;
  CHECK(vkCreateDevice(pd, &dci, NULL, &dev), "vkCreateDevice");

  VkShaderModuleCreateInfo smci = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, NULL, 0, size, (const uint32_t *)code};
  VkShaderModule sm;
  CHECK(vkCreateShaderModule(dev, &smci, NULL, &sm), "vkCreateShaderModule");
  uint32_t nb = (uint32_t)strlen(binds);
  VkDescriptorSetLayoutBinding *lb = calloc(nb, sizeof *lb);
  for (uint32_t i = 0; i < nb; i++) {
    lb[i].binding = i;
    lb[i].descriptorType = binds[i] == 'u' ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    lb[i].descriptorCount = 1;
    lb[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo dslci = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, NULL, 0, nb, lb};
  VkDescriptorSetLayout dsl;
  CHECK(vkCreateDescriptorSetLayout(dev, &dslci, NULL, &dsl), "vkCreateDescriptorSetLayout");
  VkPipelineLayoutCreateInfo plci = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, NULL, 0, 1, &dsl, 0, NULL};
  VkPipelineLayout pl;
  CHECK(vkCreatePipelineLayout(dev, &plci, NULL, &pl), "vkCreatePipelineLayout");
  VkComputePipelineCreateInfo cpci = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, NULL,
      VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR | VK_PIPELINE_CREATE_CAPTURE_INTERNAL_REPRESENTATIONS_BIT_KHR,
      {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, NULL, 0, VK_SHADER_STAGE_COMPUTE_BIT, sm,
       "dawn_entry_point", NULL},
      pl, VK_NULL_HANDLE, 0};
  VkPipeline pipe;
  CHECK(vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &cpci, NULL, &pipe), "vkCreateComputePipelines");

  PFN_vkGetPipelineExecutablePropertiesKHR props =
      (PFN_vkGetPipelineExecutablePropertiesKHR)vkGetDeviceProcAddr(dev, "vkGetPipelineExecutablePropertiesKHR");
  PFN_vkGetPipelineExecutableStatisticsKHR stats =
      (PFN_vkGetPipelineExecutableStatisticsKHR)vkGetDeviceProcAddr(dev, "vkGetPipelineExecutableStatisticsKHR");
  PFN_vkGetPipelineExecutableInternalRepresentationsKHR reprs =
      (PFN_vkGetPipelineExecutableInternalRepresentationsKHR)vkGetDeviceProcAddr(
          dev, "vkGetPipelineExecutableInternalRepresentationsKHR");
  VkPipelineInfoKHR pi = {VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, NULL, pipe};
  uint32_t ne = 0;
  CHECK(props(dev, &pi, &ne, NULL), "executable properties");
  VkPipelineExecutablePropertiesKHR *ex = calloc(ne, sizeof *ex);
  for (uint32_t i = 0; i < ne; i++) ex[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR;
  CHECK(props(dev, &pi, &ne, ex), "executable properties");
  for (uint32_t e = 0; e < ne; e++) {
    printf("executable %u: %s (%s), subgroup size %u\n", e, ex[e].name, ex[e].description, ex[e].subgroupSize);
    VkPipelineExecutableInfoKHR ei = {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, NULL, pipe, e};
    uint32_t ns = 0;
    CHECK(stats(dev, &ei, &ns, NULL), "statistics");
    VkPipelineExecutableStatisticKHR *st = calloc(ns, sizeof *st);
    for (uint32_t i = 0; i < ns; i++) st[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
    CHECK(stats(dev, &ei, &ns, st), "statistics");
    for (uint32_t i = 0; i < ns; i++) printStat(&st[i]);
    uint32_t nr = 0;
    if (reprs(dev, &ei, &nr, NULL) != VK_SUCCESS || nr == 0) continue;
    VkPipelineExecutableInternalRepresentationKHR *ir = calloc(nr, sizeof *ir);
    for (uint32_t i = 0; i < nr; i++) ir[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INTERNAL_REPRESENTATION_KHR;
    reprs(dev, &ei, &nr, ir);
    for (uint32_t i = 0; i < nr; i++) ir[i].pData = calloc(1, ir[i].dataSize + 1);
    reprs(dev, &ei, &nr, ir);
    for (uint32_t i = 0; i < nr; i++) {
      printf("--- representation %s (%s), %zu bytes%s\n", ir[i].name, ir[i].description, ir[i].dataSize,
             ir[i].isText ? "" : ", binary");
      if (ir[i].isText) fwrite(ir[i].pData, 1, strlen((const char *)ir[i].pData), stdout);
      printf("\n");
    }
  }
  return 0;
}
