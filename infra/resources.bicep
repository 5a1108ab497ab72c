// Everything of one environment, in its resource group (infra/main.bicep passes the names).
// Plain resources, no registry modules: the templates are read by tests/architecture/infra.test.ts.

param location string
param tags object
param functionAppName string
param storageAccountName string
param dataverseStorageAccountName string
param financeStorageAccountName string
param serviceBusNamespaceName string
param identityName string
param planName string
param logAnalyticsName string
param applicationInsightsName string
param separateSideStorage bool
param accountingCurrency string
param importFromStagingSchedule string
param reconcileSchedule string
param maximumInstanceCount int
param instanceMemoryMB int
param logRetentionDays int

// ---- the queues: the local broker's own definitions (tools/servicebus/config.json) ----------------
// One source of truth: the names and settings the local Service Bus reads are the ones deployed
// (lock 1 minute, max delivery count 10, duplicate detection 10 minutes, TTL 14 days, dead-lettering
// on expiry).
var queues = loadJsonContent('../tools/servicebus/config.json', '$.UserConfig.Namespaces[0].Queues')

// ---- built-in roles: the only ones the app's identity gets -----------------------------------------
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

var deploymentContainerName = 'app-package'
var dataverseAccount = separateSideStorage ? dataverseStorageAccountName : storageAccountName
var financeAccount = separateSideStorage ? financeStorageAccountName : storageAccountName
var storageSuffix = environment().suffixes.storage

// ---- identity ------------------------------------------------------------------------------------
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// ---- storage: the host's, the deployment package's and the tables' (shared keys off) ------------
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// With separateSideStorage, the Dataverse side and the F&O side get an account each.
resource dataverseStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = if (separateSideStorage) {
  name: dataverseStorageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource financeStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = if (separateSideStorage) {
  name: financeStorageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

// ---- Service Bus: Standard (duplicate detection), identities only ----------------------------------
resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: serviceBusNamespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [
  for q in queues: {
    parent: serviceBus
    name: q.Name
    properties: {
      lockDuration: q.Properties.LockDuration
      maxDeliveryCount: q.Properties.MaxDeliveryCount
      requiresDuplicateDetection: q.Properties.RequiresDuplicateDetection
      duplicateDetectionHistoryTimeWindow: q.Properties.DuplicateDetectionHistoryTimeWindow
      defaultMessageTimeToLive: q.Properties.DefaultMessageTimeToLive
      deadLetteringOnMessageExpiration: q.Properties.DeadLetteringOnMessageExpiration
      requiresSession: q.Properties.RequiresSession
    }
  }
]

// ---- monitoring ------------------------------------------------------------------------------------
resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
  }
}

// ---- the function app: Flex Consumption, Node 22, the user-assigned identity -----------------------
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// ---- app settings: named exactly as shared/config.ts reads them --------------------------------------
// Every connection is identity-based (the user-assigned identity); no key or connection string.
var appSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  ServiceBusConnection__fullyQualifiedNamespace: '${serviceBus.name}.servicebus.windows.net'
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identity.properties.clientId
  DataverseTables__tableServiceUri: 'https://${dataverseAccount}.table.${storageSuffix}'
  DataverseTables__credential: 'managedidentity'
  DataverseTables__clientId: identity.properties.clientId
  FinanceTables__tableServiceUri: 'https://${financeAccount}.table.${storageSuffix}'
  FinanceTables__credential: 'managedidentity'
  FinanceTables__clientId: identity.properties.clientId
  IntegrationTables__tableServiceUri: 'https://${storage.name}.table.${storageSuffix}'
  IntegrationTables__credential: 'managedidentity'
  IntegrationTables__clientId: identity.properties.clientId
  ImportFromStagingSchedule: importFromStagingSchedule
  ReconcileSchedule: reconcileSchedule
  AccountingCurrency: accountingCurrency
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
}

resource functionAppSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: appSettings
  dependsOn: [
    storageBlobOwner
    storageTables
    dataverseTables
    financeTables
    serviceBusSender
    serviceBusReceiver
  ]
}

// ---- role assignments: data-plane roles of the app's identity, and nothing broader -----------------
resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
  }
}

resource storageTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageTableDataContributor)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

resource dataverseTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (separateSideStorage) {
  name: guid(dataverseStorageAccountName, identity.id, storageTableDataContributor)
  scope: dataverseStorage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

resource financeTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (separateSideStorage) {
  name: guid(financeStorageAccountName, identity.id, storageTableDataContributor)
  scope: financeStorage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

resource serviceBusSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, identity.id, serviceBusDataSender)
  scope: serviceBus
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
  }
}

resource serviceBusReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, identity.id, serviceBusDataReceiver)
  scope: serviceBus
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
  }
}

output functionAppName string = functionApp.name
output functionAppUrl string = 'https://${functionApp.properties.defaultHostName}'
output serviceBusNamespace string = '${serviceBus.name}.servicebus.windows.net'
output tableServiceUri string = 'https://${storage.name}.table.${storageSuffix}'
output applicationInsightsName string = applicationInsights.name
output identityClientId string = identity.properties.clientId
